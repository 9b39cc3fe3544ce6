"""The coverage auditor: windows from the schedule's time, each judged once and only when the ledger has settled."""

from __future__ import annotations

from dataclasses import dataclass, field

from evidence.coverage import Session
from functions.audit_coverage.auditor import AuditPolicy, ShardWindow, audit, due_windows

POLICY = AuditPolicy(window=60, lookback=600, dead_after=60)
T0 = 1_800_000_000.0  # a whole minute


@dataclass
class Ledger:
    """The coverage table as the auditor sees it: sessions per shard, heartbeats per task, verdicts written once."""

    sessions: dict[str, list[Session]] = field(default_factory=dict)
    heartbeats: dict[str, float] = field(default_factory=dict)
    verdicts: dict[tuple[str, float], ShardWindow] = field(default_factory=dict)
    emitted: list[ShardWindow] = field(default_factory=list)

    def run(self, *, scheduled: float, now: float, shards: tuple[str, ...] = ("s:0",)) -> list[ShardWindow]:
        """One invocation: what the handler does, with the verdict write as the conditional put makes it."""
        found = audit(
            shards,
            lambda shard, t1, t2: [s for s in self.sessions.get(shard, []) if s.start <= t2],  # as the key range does
            dict(self.heartbeats),
            lambda shard: {start for (sh, start) in self.verdicts if sh == shard and start >= scheduled - 600},
            scheduled=scheduled,
            now=now,
            policy=POLICY,
        )
        fresh = []
        for verdict in found:
            if (verdict.shard, verdict.start) not in self.verdicts:
                self.verdicts[(verdict.shard, verdict.start)] = verdict
                self.emitted.append(verdict)
                fresh.append(verdict)
        return fresh


def test_the_due_windows_end_at_the_scheduled_time_and_reach_back_the_lookback():
    """Given a scheduled time of 12:05:00 (a delayed start changes nothing), the windows are the ten whole minutes
    before it, oldest first."""
    windows = due_windows(T0 + 300, POLICY)
    assert len(windows) == 10
    assert windows[-1] == (T0 + 240, T0 + 300)
    assert windows[0] == (T0 - 300, T0 - 240)


def test_late_invocations_judge_every_window_once():
    """Given invocations scheduled at :01 and :02 that ran 104.9 s and 165.1 s past the minute, with a task whose
    ledger is current, every window up to :02 is judged exactly once, [0, 60] included."""
    ledger = Ledger(
        sessions={"s:0": [Session("a", T0 - 700, T0 + 160, open=True)]},
        heartbeats={"a": T0 + 160},
    )
    ledger.run(scheduled=T0 + 60, now=T0 + 104.9)
    ledger.run(scheduled=T0 + 120, now=T0 + 165.1)
    starts = [v.start for v in ledger.emitted]
    assert len(starts) == len(set(starts))
    assert T0 in starts and T0 + 60 in starts
    assert all(v.uncovered_seconds == 0 for v in ledger.emitted)


def test_a_retried_run_judges_the_same_windows_and_emits_nothing_twice():
    """Given a run that failed after judging, its retry (the same scheduled time) finds the same windows already
    judged and emits nothing more."""
    ledger = Ledger(sessions={"s:0": [Session("a", T0 - 700, T0 + 70, open=True)]}, heartbeats={"a": T0 + 70})
    first = ledger.run(scheduled=T0 + 60, now=T0 + 61)
    retry = ledger.run(scheduled=T0 + 60, now=T0 + 75)
    assert first and retry == []


def test_a_write_backlog_on_every_task_defers_the_verdict_and_never_pages():
    """Given two live tasks whose ledgers trail by 40 s (every claim clamped to the oldest unstored event), the
    windows they have not claimed yet are not judged; once the backlog is written they are, with no gap."""
    lagging = Ledger(
        sessions={"s:0": [Session("a", T0 - 700, T0 + 20, open=True), Session("b", T0 - 700, T0 + 20, open=True)]},
        heartbeats={"a": T0 + 60, "b": T0 + 60},  # alive and writing, but their claims stop at +20
    )
    judged = {v.start for v in lagging.run(scheduled=T0 + 60, now=T0 + 61)}
    assert judged == {T0 - 540 + 60 * k for k in range(9)}  # every window the claims pass; [0, 60] waits
    lagging.sessions["s:0"] = [Session("a", T0 - 700, T0 + 115, open=True), Session("b", T0 - 700, T0 + 115, open=True)]
    lagging.heartbeats = {"a": T0 + 120, "b": T0 + 120}
    lagging.run(scheduled=T0 + 120, now=T0 + 121)
    assert lagging.verdicts[("s:0", T0)].uncovered_seconds == 0
    assert sum(v.uncovered_seconds for v in lagging.emitted) == 0


def test_a_dead_task_claims_are_final_and_its_gap_is_judged():
    """Given the only task dead (heartbeat stale) with an open session that stopped at +30, the window is judged
    at once: 30 s uncovered, no covering task at its end."""
    ledger = Ledger(sessions={"s:0": [Session("a", T0 - 700, T0 + 30, open=True)]}, heartbeats={"a": T0 + 30})
    ledger.run(scheduled=T0 + 120, now=T0 + 125)
    verdict = ledger.verdicts[("s:0", T0)]
    assert (verdict.uncovered_seconds, verdict.live_tasks, verdict.forced) == (30.0, 0, False)


def test_a_window_unsettled_for_the_whole_lookback_is_judged_as_it_stands():
    """Given a live task whose claim never passes +30 (a ledger stuck), the window is judged when it leaves the
    lookback, showing the seconds nobody vouched for, and marked forced."""
    ledger = Ledger(sessions={"s:0": [Session("a", T0 - 700, T0 + 30, open=True)]})
    for minute in range(1, 10):
        ledger.heartbeats = {"a": T0 + 60 * minute}  # alive and writing all along
        ledger.run(scheduled=T0 + 60 * minute, now=T0 + 60 * minute + 1)
    assert ("s:0", T0) not in ledger.verdicts
    ledger.heartbeats = {"a": T0 + 600}
    ledger.run(scheduled=T0 + 600, now=T0 + 601)  # [0, 60] is now the oldest window of the lookback
    verdict = ledger.verdicts[("s:0", T0)]
    assert verdict.forced and verdict.uncovered_seconds == 30.0


def test_a_gap_one_task_had_and_another_covered_is_no_fleet_gap():
    """Given task a down for 20 s of a window while b covers it, the fleet has no uncovered second there."""
    ledger = Ledger(
        sessions={
            "s:0": [Session("a", T0 - 5, T0 + 20), Session("a", T0 + 40, T0 + 65), Session("b", T0 - 5, T0 + 65)]
        },
        heartbeats={"a": T0 + 70, "b": T0 + 70},
    )
    ledger.run(scheduled=T0 + 60, now=T0 + 71)
    assert ledger.verdicts[("s:0", T0)].uncovered_seconds == 0
