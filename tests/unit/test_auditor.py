"""The coverage auditor's window and its fleet arithmetic."""

from __future__ import annotations

from evidence.coverage import Session
from functions.audit_coverage.auditor import audit, closed_window


def test_the_window_audited_is_the_last_whole_one_that_has_settled():
    """Given 12:00:45 with a 30 s settle, the window audited is 11:59:00-12:00:00, not the one still being written."""
    assert closed_window(43_245.0, window=60, settle=30) == (43_140.0, 43_200.0)
    assert closed_window(43_260.0, window=60, settle=30) == (43_140.0, 43_200.0)
    assert closed_window(43_290.0, window=60, settle=30) == (43_200.0, 43_260.0)


def test_a_gap_one_task_had_and_another_covered_is_no_fleet_gap():
    """Given task a down for 20 s of the window while b covers it, the fleet has 0 uncovered seconds and 1 live task."""
    sessions = {"s:0": [Session("a", 0, 20), Session("a", 40, 60), Session("b", 0, 60)], "s:1": [Session("a", 0, 50)]}
    reports = audit(["s:0", "s:1"], lambda shard, t1, t2: sessions[shard], 0, 60)
    assert [(r.shard, r.uncovered_seconds, r.live_tasks) for r in reports] == [("s:0", 0.0, 2), ("s:1", 10.0, 0)]
