"""Waiting on a condition instead of sleeping: one helper for the local stack, the demo and the tests."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

POLL = 0.02


class Waiter:
    """One wait: polls ``predicate`` until it holds, raising TimeoutError naming ``what`` after ``within`` seconds.

    ``unless`` runs on every poll and may raise to stop the wait early (e.g. when the process under test died).
    """

    def __init__(
        self, predicate: Callable[[], bool], within: float, what: str, unless: Callable[[], None] | None = None
    ) -> None:
        self._predicate, self._what, self._within, self._unless = predicate, what, within, unless
        self._deadline = time.monotonic() + within

    def done(self) -> bool:
        if self._predicate():
            return True
        if self._unless is not None:
            self._unless()
        if time.monotonic() > self._deadline:
            raise TimeoutError(f"not within {self._within:.1f} s: {self._what}")
        return False


async def eventually(
    predicate: Callable[[], bool],
    within: float,
    what: str,
    *,
    interval: float = POLL,
    unless: Callable[[], None] | None = None,
) -> None:
    """Return as soon as ``predicate()`` holds (see Waiter)."""
    waiter = Waiter(predicate, within, what, unless)
    while not waiter.done():  # noqa: ASYNC110 - the predicate reads state that raises no event of its own
        await asyncio.sleep(interval)


def eventually_sync(predicate: Callable[[], bool], within: float, what: str, **options: Any) -> None:
    """``eventually`` for code outside an event loop (subprocess tests); the same options."""
    interval = float(options.pop("interval", POLL))
    waiter = Waiter(predicate, within, what, **options)
    while not waiter.done():
        time.sleep(interval)


async def while_progressing(remaining: Callable[[], int], stall: float, what: str, *, interval: float = POLL) -> None:
    """Until ``remaining()`` is 0, for as long as it keeps falling: TimeoutError naming ``what`` (and what is left)
    once it has not fallen for ``stall`` seconds. For work whose pace is the machine's (a consumer catching up on a
    loaded host is slow, not stuck); the caller's own time limit bounds the whole."""
    best = remaining()
    since = time.monotonic()
    while best > 0:
        await asyncio.sleep(interval)
        left = remaining()
        if left < best:
            best, since = left, time.monotonic()
        elif time.monotonic() - since > stall:
            raise TimeoutError(f"no progress for {stall:.1f} s with {left} left: {what}")
