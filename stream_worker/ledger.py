"""Coverage ledger: which seconds had at least one confirmed live socket, per shard.

Each socket session is one item ``{shard, session, start_ms, end_ms, open, worker, ...}``; ``end_ms`` is the last
moment the session was known alive and everything it delivered before was stored (refreshed every
``ledger_interval``; a socket that died without a close frame ends at its last frame). Coverage of a shard is the
union of its sessions' intervals, across every task (evidence.coverage).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from evidence.coverage import (
    FleetCoverage,
    Session,
    fleet_coverage,
    heartbeat_item,
    rejected_item,
    session_key_range,
    session_sort_key,
    topics_item,
)
from stream_worker.aws import CoverageTable

log = logging.getLogger(__name__)


@dataclass
class SessionRecord:
    shard: str
    channel_id: str
    start: float
    alive_until: float  # the last moment the socket was known alive
    worker_id: str
    open: bool = True
    end_reason: str = ""
    written: tuple[float, bool] | None = None  # (end, open) as last written

    def claim(self, durable_until: float) -> tuple[float, bool]:
        """What may be written now: never past the receive time of an event not yet stored."""
        end = max(self.start, min(self.alive_until, durable_until))
        return end, self.open or end < self.alive_until

    def item(self, end: float, is_open: bool) -> dict[str, Any]:
        return {
            "shard": {"S": self.shard},
            "session": {"S": session_sort_key(self.start, self.channel_id)},
            "start_ms": {"N": str(int(self.start * 1000))},
            "end_ms": {"N": str(int(end * 1000))},
            "open": {"BOOL": is_open},
            "channel_id": {"S": self.channel_id},
            "worker": {"S": self.worker_id},
            "end_reason": {"S": self.end_reason},
        }


class SessionWrites(Protocol):
    """What the recorder needs of the coverage table (CoverageTable, or an in-memory one in tests)."""

    def put_session(self, item: dict[str, Any]) -> None: ...


@dataclass
class LedgerRecorder:
    """Session records in memory, written (idempotent full puts) off the event loop.

    The ledger is the audit evidence of completeness, so a session's written end never runs ahead of durability:
    it is clamped to ``durable_until``, the receive time of the oldest event still in memory. A crash then leaves
    a ledger that claims only seconds whose events were stored.
    """

    table: SessionWrites
    worker_id: str
    run_blocking: Callable[..., Any]
    clock: Callable[[], float] = time.time
    records: dict[tuple[str, str, float], SessionRecord] = field(default_factory=dict)  # (shard, channel, start)
    # refused topics and shard plans: items written once, at the next flush
    rejections: list[dict[str, Any]] = field(default_factory=list)
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def confirmed(self, shard: str, channel_id: str, at: float) -> None:
        """A socket confirmed at ``at``; a channel may carry several sessions in turn (a reconnect on it)."""
        self.records[(shard, channel_id, at)] = SessionRecord(shard, channel_id, at, at, self.worker_id)

    def ended(self, shard: str, channel_id: str, started: float, alive_until: float, reason: str) -> None:
        record = self.records.get((shard, channel_id, started))
        if record is None or not record.open:
            return
        record.alive_until = max(record.start, alive_until)
        record.open = False
        record.end_reason = reason

    def rejected(self, org: str, topic: str, reason: str, missing: tuple[str, ...]) -> None:
        """Genesys refused a topic: kept in the ledger's table, so the audit report can say what was never streamed."""
        self.rejections.append(rejected_item(org, topic, reason, missing, self.clock()))

    def carries(self, shard: str, topics: list[str]) -> None:
        """What the shard carries, kept beside its sessions (written at the next flush with the rejections)."""
        self.rejections.append(topics_item(shard, topics, self.clock()))

    def still_alive(self, shard: str, channel_id: str, started: float, until: float) -> None:
        """An open session was proven alive (and everything sent to it before, received) until ``until``."""
        record = self.records.get((shard, channel_id, started))
        if record is not None and record.open:
            record.alive_until = max(record.alive_until, until)

    async def flush(self, durable_until: float = float("inf")) -> None:
        async with self._lock:
            for key, record in list(self.records.items()):
                claim = record.claim(durable_until)
                if claim != record.written:
                    try:
                        await self.run_blocking(self.table.put_session, record.item(*claim))
                    except Exception:
                        log.exception("coverage ledger write failed", extra={"shard": record.shard})
                        continue  # written again at the next flush
                    record.written = claim
                if not record.open and claim == (record.alive_until, False):
                    self.records.pop(key, None)  # closed and written in full: nothing left to carry
            while self.rejections:
                try:
                    await self.run_blocking(self.table.put_session, self.rejections[0])
                except Exception:
                    log.exception("coverage ledger write of a rejected topic failed")
                    break  # written at the next flush
                self.rejections.pop(0)
            # after the sessions: a heartbeat at t means every session this task confirmed before t is written
            try:
                await self.run_blocking(self.table.put_session, heartbeat_item(self.worker_id, self.clock()))
            except Exception:
                log.exception("coverage ledger heartbeat failed")


def query_coverage(table: CoverageTable, shard: str, t1: float, t2: float) -> FleetCoverage:
    """The fleet's coverage of ``shard`` between t1 and t2 (every task's sessions), and each task's own."""
    return fleet_coverage((Session.of(i) for i in table.sessions(shard, *session_key_range(t1, t2))), t1, t2)


def query_uncovered(table: CoverageTable, shard: str, t1: float, t2: float) -> list[tuple[float, float]]:
    """Were there uncovered seconds for ``shard`` between t1 and t2, and which?"""
    return query_coverage(table, shard, t1, t2).gaps
