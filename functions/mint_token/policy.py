"""When to mint: the refresh policy.

A token is replaced when its remaining life drops under ``threshold(lifetime)``:
``max(fraction * lifetime, rotation_lead + schedule_period + retry_allowance)``.
The floor guarantees that a consumer reading the secret at any moment finds a token that outlives the worker's
rotation lead even if this run and its retries fail and only the next scheduled run succeeds.
With the defaults (fraction 0.5, lead 600 s, period 300 s, retries 120 s) and 3,600 s tokens the threshold is
1,800 s: a token is replaced 1,800 to 2,100 s after it was minted, so a secret gets at most two writes an hour.
"""

from __future__ import annotations

from dataclasses import dataclass as plain_dataclass
from typing import Annotated

from pydantic import Field
from pydantic.dataclasses import dataclass

from genesys.token_secret import TokenSecret


@plain_dataclass(frozen=True, slots=True)
class Decision:
    mint: bool
    reason: str


@dataclass(frozen=True, slots=True)
class RefreshPolicy:
    fraction: Annotated[float, Field(gt=0, lt=1)] = 0.5
    schedule_period: Annotated[float, Field(gt=0)] = 300.0
    rotation_lead: Annotated[float, Field(ge=0)] = 600.0
    retry_allowance: Annotated[float, Field(ge=0)] = 120.0

    @property
    def floor(self) -> float:
        return self.rotation_lead + self.schedule_period + self.retry_allowance

    def threshold(self, lifetime: float) -> float:
        return max(self.fraction * lifetime, self.floor)

    def decide(self, cached: TokenSecret | None, now: float, *, force: bool = False) -> Decision:
        if force:
            return Decision(True, "forced")
        if cached is None:
            return Decision(True, "no cached token")
        remaining = cached.remaining(now)
        threshold = self.threshold(cached.expires_at - cached.issued_at)
        if remaining < threshold:
            return Decision(True, f"remaining {remaining:.0f} s < threshold {threshold:.0f} s")
        return Decision(False, f"fresh: remaining {remaining:.0f} s >= threshold {threshold:.0f} s")
