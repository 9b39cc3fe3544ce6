"""Waiting on a condition instead of sleeping: one helper for the local stack, the demo and the tests."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

POLL = 0.02


async def eventually(
    predicate: Callable[[], bool],
    within: float,
    what: str,
    *,
    interval: float = POLL,
    unless: Callable[[], None] | None = None,
) -> None:
    """Return as soon as ``predicate()`` holds; TimeoutError naming ``what`` after ``within`` seconds.

    ``unless`` runs on every poll and may raise to stop the wait early (e.g. when the process under test died).
    """
    deadline = time.monotonic() + within
    while not predicate():
        if unless is not None:
            unless()
        if time.monotonic() > deadline:
            raise TimeoutError(f"not within {within:.1f} s: {what}")
        await asyncio.sleep(interval)


def eventually_sync(
    predicate: Callable[[], bool],
    within: float,
    what: str,
    *,
    interval: float = POLL,
    unless: Callable[[], None] | None = None,
) -> None:
    """``eventually`` for code outside an event loop (subprocess tests)."""
    deadline = time.monotonic() + within
    while not predicate():
        if unless is not None:
            unless()
        if time.monotonic() > deadline:
            raise TimeoutError(f"not within {within:.1f} s: {what}")
        time.sleep(interval)
