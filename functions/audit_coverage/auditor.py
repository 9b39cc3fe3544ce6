"""The coverage auditor's logic: which window to audit, and what the fleet covered of it."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from evidence.coverage import Session, fleet_coverage

SessionsOf = Callable[[str, float, float], Iterable[Session]]


@dataclass(frozen=True, slots=True)
class ShardWindow:
    shard: str
    start: float
    end: float
    uncovered_seconds: float
    live_tasks: int


def closed_window(now: float, *, window: float, settle: float) -> tuple[float, float]:
    """The last whole window that ended at least ``settle`` seconds ago: by then every task has written its ledger
    for it (tasks write every few seconds), so a late write cannot change the answer."""
    end = ((now - settle) // window) * window
    return end - window, end


def audit(shards: Iterable[str], sessions_of: SessionsOf, start: float, end: float) -> list[ShardWindow]:
    reports = []
    for shard in shards:
        fleet = fleet_coverage(sessions_of(shard, start, end), start, end)
        reports.append(ShardWindow(shard, start, end, round(fleet.uncovered_seconds, 3), fleet.live_tasks))
    return reports
