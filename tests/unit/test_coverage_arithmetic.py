"""Coverage arithmetic: the gaps between session intervals."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from evidence.coverage import merge, uncovered


def test_uncovered_lists_the_gaps_between_sessions():
    sessions = [(10.0, 20.0), (15.0, 30.0), (32.0, 40.0)]
    assert uncovered(sessions, 0.0, 50.0) == [(0.0, 10.0), (30.0, 32.0), (40.0, 50.0)]
    assert uncovered(sessions, 12.0, 29.0) == []
    assert uncovered([], 1.0, 2.0) == [(1.0, 2.0)]


intervals = st.lists(st.tuples(st.floats(0, 100), st.floats(0, 20)).map(lambda p: (p[0], p[0] + p[1])), max_size=8)


@given(sessions=intervals, t1=st.floats(0, 60), span=st.floats(0.1, 60))
def test_covered_plus_uncovered_is_the_whole_window(sessions, t1, span):
    t2 = t1 + span
    gaps = uncovered(sessions, t1, t2)
    covered = sum(max(0.0, min(e, t2) - max(s, t1)) for s, e in merge(sessions))
    assert sum(b - a for a, b in gaps) + covered == pytest.approx(span)
    assert all(t1 <= a < b <= t2 for a, b in gaps)


def test_fleet_coverage_is_the_union_of_every_tasks_sessions():
    """Given task A down 10-20 while B covers 5-25, the fleet has no gap; each task's own gaps are still known."""
    from evidence.coverage import Session, fleet_coverage

    sessions = [Session("a", 0, 10), Session("a", 20, 30), Session("b", 5, 25)]
    fleet = fleet_coverage(sessions, 0, 30)
    assert fleet.gaps == []
    assert fleet.by_task == {"a": [(10, 20)], "b": [(0, 5), (25, 30)]}
    assert fleet.live_tasks == 1  # at 30 only A's session reaches the end
    assert fleet_coverage([Session("a", 0, 10)], 0, 30).uncovered_seconds == 20
