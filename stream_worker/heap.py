"""Giving freed memory back to the system, so a task's RSS follows what it holds rather than the most it ever held.

A burst the store is slow to take waits in the writer's queue, about 6 KB per 0.5 KB event (the frame, its parse,
its item). Once written, Python frees those objects, but glibc's allocator keeps the freed pages of its heap for
reuse: measured over 30 minutes at 500 events/s with an empty queue, RSS rose in steps at each short backlog (a few
hundred events) and never came down, about 0.13 MB a minute. ``malloc_trim(0)`` returns the free pages at the top
and inside the heap; it takes milliseconds and runs once a minute, off the event loop's hot path (ctypes releases
the GIL for the call).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
from collections.abc import Callable

log = logging.getLogger(__name__)


def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim``; None where the C library has none (musl, macOS)."""
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        trim: Callable[[int], int] | None = getattr(ctypes.CDLL(name), "malloc_trim", None)
    except OSError:
        return None
    return trim


_TRIM = _malloc_trim()


def release_free_memory() -> bool:
    """Return the allocator's free pages to the system; False where that cannot be done here."""
    if _TRIM is None:
        return False
    _TRIM(0)
    return True
