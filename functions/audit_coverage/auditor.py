"""The coverage auditor's logic: which windows are due, whether the ledger has settled for them, and the verdict.

Windows come from the schedule's time, never the clock at invocation: a late or retried invocation judges the same
windows as a punctual one. Every window within ``lookback`` of that time that has no verdict yet is looked at, so
a window a slow run skipped is judged by the next. A window is judged once the ledger can no longer change for it:
every live task (its ledger heartbeat is fresh) has written its ledger since the window ended, and each of its
open sessions on the shard already claims past the window's end. A task whose heartbeat is stale is dead, and its
claims are final. A window still unsettled when it reaches the end of the lookback is judged as it stands, so no
window is ever left unjudged (a ledger stuck behind a backlog then shows as the gap it is).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from evidence.coverage import Session, fleet_coverage

SessionsOf = Callable[[str, float, float], Iterable[Session]]


@dataclass(frozen=True, slots=True)
class AuditPolicy:
    window: float = 60.0  # seconds per window
    lookback: float = 600.0  # windows this old without a verdict are judged as they stand
    dead_after: float = 60.0  # a task whose ledger heartbeat is older than this is dead


@dataclass(frozen=True, slots=True)
class ShardWindow:
    shard: str
    start: float
    end: float
    uncovered_seconds: float
    live_tasks: int
    forced: bool = False  # judged at the end of the lookback, settled or not
    gaps: tuple[tuple[float, float], ...] = ()  # the uncovered intervals themselves


def due_windows(scheduled: float, policy: AuditPolicy) -> list[tuple[float, float]]:
    """Every whole window that ended by the scheduled time, within the lookback, oldest first."""
    last_end = (scheduled // policy.window) * policy.window
    count = int(policy.lookback // policy.window)
    return [(last_end - k * policy.window, last_end - (k - 1) * policy.window) for k in range(count, 0, -1)]


def settled(
    sessions: Iterable[Session], heartbeats: Mapping[str, float], end: float, now: float, dead_after: float
) -> bool:
    """No live task can still change what the ledger says of the time before ``end``."""
    live = {task for task, at in heartbeats.items() if now - at <= dead_after}
    if any(heartbeats[task] < end for task in live):
        return False  # it has not written since the window ended: a session it confirmed may be unwritten
    return all(not s.open or s.end >= end or s.worker not in live for s in sessions)


def judge(
    shard: str,
    start: float,
    end: float,
    sessions: Iterable[Session],
    heartbeats: Mapping[str, float],
    *,
    now: float,
    policy: AuditPolicy,
    forced: bool,
) -> ShardWindow | None:
    """The verdict for one shard's window, or None while the ledger may still change for it (and not forced)."""
    every = list(sessions)
    if not forced and not settled(every, heartbeats, end, now, policy.dead_after):
        return None
    fleet = fleet_coverage(every, start, end)
    return ShardWindow(
        shard, start, end, round(fleet.uncovered_seconds, 3), fleet.live_tasks, forced, tuple(fleet.gaps)
    )


def audit(
    shards: Iterable[str],
    sessions_of: SessionsOf,
    heartbeats: Mapping[str, float],
    judged: Callable[[str], set[float]],
    *,
    scheduled: float,
    now: float,
    policy: AuditPolicy,
) -> list[ShardWindow]:
    """Verdicts for every due window of every shard that has none yet and can be judged now."""
    windows = due_windows(scheduled, policy)
    verdicts = []
    for shard in shards:
        done = judged(shard)
        for index, (start, end) in enumerate(windows):
            if start in done:
                continue
            verdict = judge(
                shard,
                start,
                end,
                sessions_of(shard, start, end),
                heartbeats,
                now=now,
                policy=policy,
                forced=index == 0,  # the oldest window leaves the lookback with this run
            )
            if verdict is not None:
                verdicts.append(verdict)
    return verdicts
