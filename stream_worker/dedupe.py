"""The worker's memory of recent event keys, so the overlap's second copy costs no write.

Only an optimisation: the conditional put is what stores each event once, so a key forgotten too early costs one
failed conditional write, never a second item. Bounded by time and by count, so memory is flat at any rate:

- time: the second copy of an event comes from the other socket of its shard within a second or so, and across a
  make-before-break rotation within the overlap (at most the minute Genesys gives after ``socket_closing``). A key
  is remembered for at least ``window / 2`` and at most ``window`` seconds; the default window is 120 s.
- count: at most ``max_keys`` keys (two generations of ``max_keys / 2``); at 1,000 unique events/s and the default
  200,000 keys, the time bound is the one that applies.

Two generations of sets: a key is looked up in both and added to the current one; when the current generation is
``window / 2`` old or half the count, the older one is dropped whole. Keys are kept as 128-bit integers (the first
half of the SHA-256 hex key), about 90 bytes each, not as 64-character strings.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable

DEFAULT_WINDOW = 120.0


class DedupeWindow:
    def __init__(
        self, max_keys: int, window: float = DEFAULT_WINDOW, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._half_count = max(1, max_keys // 2)
        self._half_window = window / 2
        self._enabled = max_keys > 0
        self._clock = clock
        self._current: set[int | str] = set()
        self._previous: set[int | str] = set()
        self._since = clock()

    def __len__(self) -> int:
        return len(self._current) + len(self._previous)

    def seen(self, key: str, arrival: str = "") -> bool:
        """True when ``key`` (with ``arrival``: one notification of that content) was offered within the window;
        otherwise remembers it and returns False."""
        if not self._enabled:
            return False
        compact = _compact(key, arrival)
        if compact in self._current or compact in self._previous:
            return True
        now = self._clock()
        age = now - self._since
        if age >= 2 * self._half_window:  # quiet for a whole window: everything remembered is too old
            self._previous, self._current, self._since = set(), set(), now
        elif age >= self._half_window or len(self._current) >= self._half_count:
            self._previous, self._current, self._since = self._current, set(), now
        self._current.add(compact)
        return False

    def forget(self, key: str, arrival: str = "") -> None:
        """The job that held ``key`` was dropped before it was written: a later copy must be written, not absorbed."""
        compact = _compact(key, arrival)
        self._current.discard(compact)
        self._previous.discard(compact)


def _compact(key: str, arrival: str) -> int | str:
    """128 bits of the key, mixed with 128 bits of the arrival's hash: a notification whose content repeats an
    earlier one's (another arrival) is not taken for its copy."""
    if len(key) != 64:
        return key if not arrival else f"{key}|{arrival}"  # quarantine keys: rare, kept whole
    mixed = int(key[:32], 16)
    if arrival:
        mixed ^= int.from_bytes(hashlib.blake2b(arrival.encode(), digest_size=16).digest(), "big")
    return mixed
