"""Waiting on progress: slow work is waited for, stuck work is named."""

from __future__ import annotations

import re

import pytest

from local_stack.waiting import while_progressing


async def test_work_that_keeps_falling_is_waited_for_past_the_stall_limit():
    """Given work that falls by one every poll, 30 polls long, with a stall limit of a few polls, the wait ends at 0."""
    left = [30]

    def remaining() -> int:
        left[0] -= 1
        return left[0]

    await while_progressing(remaining, stall=0.05, what="counting down", interval=0.005)
    assert left[0] == 0


async def test_work_that_stops_falling_is_named_with_what_is_left():
    """Given work stuck at 7, the wait ends with a TimeoutError that says so."""
    with pytest.raises(TimeoutError, match=re.escape("no progress for 0.1 s with 7 left: stuck work")):
        await while_progressing(lambda: 7, stall=0.1, what="stuck work", interval=0.005)
