"""The dedupe window: bounded by time and by count, so memory is flat at any event rate."""

from __future__ import annotations

import hashlib

from stream_worker.dedupe import DedupeWindow


def key(n: int) -> str:
    return hashlib.sha256(str(n).encode()).hexdigest()


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_key_is_remembered_for_half_the_window_at_least_and_the_whole_window_at_most():
    """Given a 120 s window, a key seen again within 60 s is a duplicate; after 120 s without traffic, it is not."""
    clock = Clock()
    window = DedupeWindow(max_keys=1000, window=120, clock=clock)
    assert not window.seen(key(1))
    clock.now = 59
    assert window.seen(key(1))
    clock.now = 61
    assert not window.seen(key(2))  # a new generation begins; key(1) is still in the previous one
    assert window.seen(key(1))
    clock.now = 61 + 121
    assert not window.seen(key(3))
    assert not window.seen(key(1))  # both generations dropped after a quiet window


def test_memory_is_bounded_by_count_at_any_rate():
    """Given ten times more unique keys than the bound within one instant, at most the bound is kept."""
    window = DedupeWindow(max_keys=1000, window=120, clock=Clock())
    for n in range(10_000):
        window.seen(key(n))
    assert len(window) <= 1000
    assert window.seen(key(9_999))  # the newest are the ones kept


def test_quarantine_keys_never_collide_with_event_keys():
    """Given an event key and a quarantine key whose digests share their first 128 bits, both are new."""
    window = DedupeWindow(max_keys=1000)
    digest = key(5)
    assert not window.seen(digest)
    assert not window.seen(f"quarantine#{digest}")


def test_zero_keys_turns_it_off():
    window = DedupeWindow(max_keys=0)
    assert not window.seen(key(1)) and not window.seen(key(1))
