"""Coverage ledger: which seconds had at least one confirmed live socket, per shard.

Each socket session is one item ``{shard, session, start_ms, end_ms, open, ...}``; ``end_ms`` is the last moment the
session was known alive (refreshed every ``ledger_interval`` while live; the last frame's time when the socket was
declared dead by the liveness watchdog). Coverage of a shard is the union of its sessions' intervals.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from stream_worker.aws import CoverageTable

log = logging.getLogger(__name__)
LOOKBACK_MS = 48 * 3600 * 1000  # a session never outlives its channel (24 h); look back twice that


def merge(intervals: list[tuple[float, float]]) -> list[tuple[float, float]]:
    merged: list[tuple[float, float]] = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def uncovered(intervals: list[tuple[float, float]], t1: float, t2: float) -> list[tuple[float, float]]:
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


@dataclass
class SessionRecord:
    shard: str
    channel_id: str
    start: float
    alive_until: float
    worker_id: str
    open: bool = True
    end_reason: str = ""
    dirty: bool = True

    def item(self) -> dict[str, Any]:
        return {
            "shard": {"S": self.shard},
            "session": {"S": session_sort_key(self.start, self.channel_id)},
            "start_ms": {"N": str(int(self.start * 1000))},
            "end_ms": {"N": str(int(self.alive_until * 1000))},
            "open": {"BOOL": self.open},
            "channel_id": {"S": self.channel_id},
            "worker": {"S": self.worker_id},
            "end_reason": {"S": self.end_reason},
        }


class SessionWrites(Protocol):
    """What the recorder needs of the coverage table (CoverageTable, or an in-memory one in tests)."""

    def put_session(self, item: dict[str, Any]) -> None: ...


@dataclass
class LedgerRecorder:
    """Keeps session records in memory and writes the changed ones (idempotent full puts) off the event loop."""

    table: SessionWrites
    worker_id: str
    run_blocking: Callable[..., Any]
    records: dict[tuple[str, str], SessionRecord] = field(default_factory=dict)
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def confirmed(self, shard: str, channel_id: str, at: float) -> None:
        self.records[(shard, channel_id)] = SessionRecord(shard, channel_id, at, at, self.worker_id)

    def ended(self, shard: str, channel_id: str, alive_until: float, reason: str) -> None:
        record = self.records.get((shard, channel_id))
        if record is None or not record.open:
            return
        record.alive_until = max(record.start, alive_until)
        record.open = False
        record.end_reason = reason
        record.dirty = True

    def still_alive(self, now: float) -> None:
        for record in self.records.values():
            if record.open:
                record.alive_until = now
                record.dirty = True

    async def flush(self) -> None:
        async with self._lock:
            for key, record in list(self.records.items()):
                if not record.dirty:
                    continue
                record.dirty = False
                try:
                    await self.run_blocking(self.table.put_session, record.item())
                except Exception:
                    record.dirty = True  # written again at the next flush
                    log.exception("coverage ledger write failed", extra={"shard": record.shard})
                    continue
                if not record.open:
                    self.records.pop(key, None)


def query_uncovered(table: CoverageTable, shard: str, t1: float, t2: float) -> list[tuple[float, float]]:
    """Were there uncovered seconds for ``shard`` between t1 and t2, and which?"""
    start_from = f"{max(0, int(t1 * 1000) - LOOKBACK_MS):015d}"
    start_to = f"{int(t2 * 1000):015d}~"
    intervals = [
        (int(i["start_ms"]["N"]) / 1000, int(i["end_ms"]["N"]) / 1000)
        for i in table.sessions(shard, start_from, start_to)
    ]
    return uncovered(intervals, t1, t2)
