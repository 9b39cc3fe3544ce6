"""Jittered exponential backoff that resets after a quiet period (one policy for the minter and the worker)."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from genesys.errors import RateLimitedError


@dataclass
class Backoff:
    base: float = 0.5
    cap: float = 30.0
    reset_after: float = 60.0
    rng: random.Random = field(default_factory=random.Random)
    clock: Callable[[], float] = time.monotonic
    _attempt: int = 0
    _last_failure: float | None = None

    def next_delay(self, error: BaseException | None = None) -> float:
        """Delay before the next try: full jitter over an exponential ceiling; Retry-After is a floor."""
        now = self.clock()
        if self._last_failure is not None and now - self._last_failure > self.reset_after:
            self._attempt = 0
        self._last_failure = now
        ceiling = min(self.cap, self.base * (2**self._attempt))
        self._attempt += 1
        delay = self.rng.uniform(0, ceiling)
        if isinstance(error, RateLimitedError):
            delay = max(delay, error.retry_after)
        return delay

    def reset(self) -> None:
        self._attempt = 0
        self._last_failure = None

    @property
    def attempts(self) -> int:
        return self._attempt
