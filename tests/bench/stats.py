"""A benchmark figure as a distribution: every run's value kept, the median judged against the target, and the
spread (min-max) said plainly when it crosses the target, so one lucky or unlucky run never decides."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

Sense = Literal["max", "min"]  # the figure must stay at most / at least the limit
MET, STRADDLES, MISSED = "met", "met on the median; the spread straddles the target", "MISSED"


@dataclass(frozen=True)
class Figure:
    runs: tuple[float, ...]

    @classmethod
    def of(cls, values: Sequence[float]) -> Figure:
        if not values:
            raise ValueError("a figure needs at least one run")
        return cls(tuple(float(v) for v in values))

    @classmethod
    def ratio(cls, numerators: Sequence[float], denominators: Sequence[float]) -> Figure:
        """Run by run: each ratio from one round of the interleaved runs, so drift on the machine between rounds
        touches both sides of it alike."""
        if len(numerators) != len(denominators):
            raise ValueError("a ratio needs one baseline run per run")
        return cls.of([a / b for a, b in zip(numerators, denominators, strict=True)])

    @property
    def median(self) -> float:
        return statistics.median(self.runs)

    @property
    def low(self) -> float:
        return min(self.runs)

    @property
    def high(self) -> float:
        return max(self.runs)

    def verdict(self, limit: float, sense: Sense) -> str:
        """Judged on the median; ``STRADDLES`` when the median meets the target and some run does not."""

        def meets(value: float) -> bool:
            return value <= limit if sense == "max" else value >= limit

        if not meets(self.median):
            return MISSED
        return MET if all(meets(v) for v in self.runs) else STRADDLES

    def agrees_with(self, other: Figure) -> bool:
        """Another run of the bench agrees when each one's median lies within the other's spread."""
        return self.low <= other.median <= self.high and other.low <= self.median <= other.high

    def shown(self, digits: int = 1) -> str:
        if len(self.runs) == 1:
            return f"{self.median:.{digits}f}"
        return f"{self.median:.{digits}f} [{self.low:.{digits}f}-{self.high:.{digits}f}]"

    def as_json(self) -> dict[str, Any]:
        return {"median": self.median, "min": self.low, "max": self.high, "runs": list(self.runs)}
