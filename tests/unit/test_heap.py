"""Freed memory goes back to the system: what a backlog held does not stay in the task's RSS for good."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from stream_worker.heap import release_free_memory

PROGRAM = """
import gc, json
from stream_worker.heap import release_free_memory

def rss_mb():
    with open("/proc/self/status") as status:
        return next(int(l.split()[1]) / 1024 for l in status if l.startswith("VmRSS:"))

frames = [("x" * 600) + str(n) for n in range(60_000)]  # a backlog of 0.6 KB frames: glibc's heap
survivors = frames[::50]  # a few still held, scattered through the heap, as live events are
peak = rss_mb()
del frames
gc.collect()
freed = rss_mb()
released = release_free_memory()
print(json.dumps({"peak": peak, "freed": freed, "after": rss_mb(), "released": released}))
"""


@pytest.mark.skipif(not release_free_memory(), reason="the C library has no malloc_trim")
def test_what_a_backlog_held_is_returned_to_the_system_once_released():
    """Given 36 MB of frames allocated and freed, with a few survivors, RSS stays near its peak after the free
    (glibc keeps the pages), and when the free memory is released, most of it leaves RSS."""
    answer = subprocess.run([sys.executable, "-c", PROGRAM], capture_output=True, text=True, check=True, timeout=60)
    rss = json.loads(answer.stdout)
    assert rss["released"]
    assert rss["peak"] - rss["freed"] < 10  # freed, but still the process's
    assert rss["freed"] - rss["after"] > 20  # returned
