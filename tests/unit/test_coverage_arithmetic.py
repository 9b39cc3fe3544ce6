"""Coverage arithmetic: the gaps between session intervals."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stream_worker.ledger import merge, uncovered


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
