"""Coverage arithmetic over ledger sessions, shared by the worker, the query CLI and the coverage auditor.

A session is one socket's interval ``[start_ms, end_ms]`` in the coverage table, written by the task that held it
(``worker``). A shard is covered at a moment when at least one session of any task covers it: the fleet's coverage
is the union of every task's sessions.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

LOOKBACK_MS = 48 * 3600 * 1000  # a session never outlives its channel (24 h); look back twice that
# partitions of the coverage table that are not shards: each task's last ledger write, and the auditor's verdicts
TASKS_PARTITION = "_tasks"
JUDGED_PREFIX = "_judged#"
REJECTED_PREFIX = "_rejected#"  # topics Genesys refused, per org: evidence of what was never streamed
TOPICS_PARTITION = "_topics"  # the topics each shard carries (what a gap on it may have hidden)


def is_shard(partition: str) -> bool:
    return not partition.startswith("_")


def judged_partition(shard: str) -> str:
    return f"{JUDGED_PREFIX}{shard}"


def window_sort_key(start: float) -> str:
    return f"{int(start * 1000):015d}"


def merge(intervals: Iterable[tuple[float, float]]) -> list[tuple[float, float]]:
    merged: list[tuple[float, float]] = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def uncovered(intervals: Iterable[tuple[float, float]], t1: float, t2: float) -> list[tuple[float, float]]:
    """The parts of [t1, t2] that no interval covers."""
    gaps: list[tuple[float, float]] = []
    cursor = t1
    for start, end in merge(intervals):
        if end <= cursor:
            continue
        if start >= t2:
            break
        if start > cursor:
            gaps.append((cursor, min(start, t2)))
        cursor = max(cursor, end)
        if cursor >= t2:
            break
    if cursor < t2:
        gaps.append((cursor, t2))
    return gaps


def session_sort_key(start: float, channel_id: str) -> str:
    return f"{int(start * 1000):015d}#{channel_id}"


def session_key_range(t1: float, t2: float) -> tuple[str, str]:
    """Sort-key bounds that find every session that can overlap [t1, t2]."""
    return f"{max(0, int(t1 * 1000) - LOOKBACK_MS):015d}", f"{int(t2 * 1000):015d}~"


@dataclass(frozen=True, slots=True)
class Session:
    worker: str
    start: float
    end: float
    open: bool = False  # still being extended by a live task: its end may grow

    @classmethod
    def of(cls, item: Mapping[str, Any]) -> Session:
        """From a coverage item in DynamoDB's attribute-value form."""
        worker = item.get("worker", {}).get("S", "")
        is_open = bool(item.get("open", {}).get("BOOL", False))
        return cls(str(worker), int(item["start_ms"]["N"]) / 1000, int(item["end_ms"]["N"]) / 1000, is_open)


def heartbeat_item(worker: str, at: float) -> dict[str, Any]:
    """A task's last ledger write: the auditor tells a live task (its claims may still grow) from a dead one."""
    return {"shard": {"S": TASKS_PARTITION}, "session": {"S": worker}, "written_ms": {"N": str(int(at * 1000))}}


def rejected_item(org: str, topic: str, reason: str, missing: tuple[str, ...], at: float) -> dict[str, Any]:
    """A topic Genesys refused for an org, with its reason and the permissions it said were missing."""
    item: dict[str, Any] = {
        "shard": {"S": f"{REJECTED_PREFIX}{org}"},
        "session": {"S": topic},
        "reason": {"S": reason or "rejected"},
        "rejected_ms": {"N": str(int(at * 1000))},
    }
    if missing:
        item["missing_permissions"] = {"SS": sorted(set(missing))}
    return item


def topics_item(shard: str, topics: list[str], at: float) -> dict[str, Any]:
    """The topics a shard carries, as its task planned them: a gap's repair asks Genesys about these."""
    return {
        "shard": {"S": TOPICS_PARTITION},
        "session": {"S": shard},
        "topics": {"L": [{"S": t} for t in topics]},
        "written_ms": {"N": str(int(at * 1000))},
    }


def heartbeat_of(item: Mapping[str, Any]) -> tuple[str, float]:
    return str(item["session"]["S"]), int(item["written_ms"]["N"]) / 1000


@dataclass(frozen=True, slots=True)
class FleetCoverage:
    gaps: list[tuple[float, float]]  # no task covered these
    by_task: dict[str, list[tuple[float, float]]]  # each task's own gaps
    live_tasks: int  # tasks covering the window's last moment

    @property
    def uncovered_seconds(self) -> float:
        return sum(end - start for start, end in self.gaps)


def fleet_coverage(sessions: Iterable[Session], t1: float, t2: float) -> FleetCoverage:
    every = list(sessions)
    tasks = sorted({s.worker for s in every})
    by_task = {task: uncovered([(s.start, s.end) for s in every if s.worker == task], t1, t2) for task in tasks}
    live = {s.worker for s in every if s.start <= t2 <= s.end}
    return FleetCoverage(uncovered([(s.start, s.end) for s in every], t1, t2), by_task, len(live))
