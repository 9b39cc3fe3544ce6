"""Bounded queue -> put lanes (threads or writer processes) -> conditional puts. An event leaves memory only once
stored.

Each write ends in one of three outcomes: stored, a duplicate absorbed, or rejected for good. A rejected event is
kept as a quarantine record with the store's reason and the raw frame whole. Only failures that can succeed later
(throttling, 5xx, network, permissions) are retried, with backoff, for as long as it takes (in the lane).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from evidence.frames import excerpt
from evidence.records import Item, Received, event_item, quarantine_item
from evidence.store import Duplicate, Rejected, Stored, WriteOutcome
from stream_worker.dedupe import DedupeWindow
from stream_worker.metrics import WorkerMetrics
from stream_worker.put_lanes import Lanes, PutFailed, Report

log = logging.getLogger(__name__)
NO_ITEM: Item = {}  # a queued event's item, not made yet (every item has a key)


@dataclass(slots=True)  # not frozen: made once per event, and a frozen dataclass costs 4x to build
class Job:
    """One write. An event's item is made as it leaves the queue (``NO_ITEM`` until then): the item is two thirds
    of what a queued event would hold, and a backlog's memory stays in the process's RSS after it drains."""

    key: str
    item: Item
    overflow: bytes | None
    received_at: float
    event: Received | None = None  # None for a quarantine record
    seq: int = 0


class EventWriter:
    def __init__(
        self,
        lanes: Lanes,
        metrics: WorkerMetrics,
        *,
        queue_max: int,
        dedupe: DedupeWindow,
        ttl_days: int | None = None,
        clock: Callable[[], float] = time.time,
        on_failure: Callable[[BaseException], None] | None = None,
    ) -> None:
        self._lanes = lanes
        self._on_failure = on_failure
        self.failed: BaseException | None = None  # the dispatcher ended with this: nothing is written any more
        self._metrics = metrics
        self.queue: asyncio.Queue[Job] = asyncio.Queue(maxsize=queue_max)
        self._recent = dedupe
        self._ttl_days = ttl_days
        self._clock = clock
        self._free = lanes.capacity  # jobs the lanes can take now; the queue holds the rest
        self._slot_freed = asyncio.Event()
        self._held: dict[int, Job] = {}  # handed to a lane, not yet answered
        self._pending: dict[int, float] = {}  # receive time of every frame in memory (waiting, queued or held)
        self._idle = asyncio.Event()
        self._idle.set()
        self._seq = itertools.count(1)
        self._dispatcher: asyncio.Task[None] | None = None
        self.failing_since: float | None = None

    def start(self) -> None:
        self._lanes.start(self._answered)
        self._dispatcher = asyncio.create_task(self._dispatch(), name="writer-dispatch")
        self._dispatcher.add_done_callback(self._dispatcher_ended)

    def _dispatcher_ended(self, task: asyncio.Task[None]) -> None:
        """The dispatcher runs until stop() cancels it; ending any other way, nothing is written any more, and a
        worker that stays up then only fills its queue: it says so, and the owner stops the process."""
        if task.cancelled():
            return
        self.failed = task.exception() or RuntimeError("the writer's dispatcher returned")
        log.critical("event writer stopped dispatching", exc_info=self.failed)
        if self._on_failure is not None:
            self._on_failure(self.failed)

    @property
    def in_flight(self) -> int:
        """Jobs a lane holds: being put, or waiting to retry."""
        return len(self._held)

    @property
    def unwritten(self) -> int:
        """Events and quarantine records in memory: queued, or held by a lane."""
        return self.queue.qsize() + self.in_flight

    def durable_until(self, now: float) -> float:
        """Every frame received before this moment is stored (or quarantined): what the ledger may claim."""
        return min(self._pending.values(), default=now)

    def failing_for(self, now: float) -> float:
        return 0.0 if self.failing_since is None else now - self.failing_since

    async def submit(self, event: Received) -> bool:
        """Queue the event for its put; True when the queue was full and the caller had to wait (backpressure)."""
        self._metrics.count("EventsReceived")
        if self._recent.seen(event.key, event.arrival):
            self._metrics.count("DuplicatesAbsorbed")
            return False
        return await self._enqueue_keyed(Job(event.key, NO_ITEM, None, event.received_at, event, next(self._seq)))

    async def quarantine(self, raw: str | bytes, reason: str, channel_id: str, shard: str, org: str, at: float) -> None:
        """Keep a frame that is not an event whole, with why; ``raw`` as bytes for one that is not valid UTF-8."""
        shown = raw.decode("utf-8", "backslashreplace") if isinstance(raw, bytes) else raw
        log.warning(
            "frame quarantined",
            extra={"reason": reason, "channel_id": channel_id, "shard": shard, "frame": excerpt(shown)},
        )
        record = self._quarantine_record(raw, reason, channel_id, shard, org, at)
        if record is not None:
            await self._enqueue_keyed(record)

    def _quarantine_record(
        self, raw: str | bytes, reason: str, channel_id: str, shard: str, org: str, at: float, *, slotless: bool = False
    ) -> Job | None:
        """The job that keeps a frame whole with its reason; None when that very frame is already kept.

        ``slotless`` records (a refusal's) go straight to a lane, without a slot: their seq is negative."""
        item, overflow = quarantine_item(raw, reason, channel_id, shard, org, at)
        self._metrics.count("Quarantined", org=org)
        key = item["pk"]["S"]
        seq = next(self._seq)
        return None if self._recent.seen(key) else Job(key, item, overflow, at, seq=-seq if slotless else seq)

    async def _enqueue_keyed(self, job: Job) -> bool:
        """A job whose key entered the dedupe window with it: dropped unwritten (its reader cancelled while the
        queue was full), the key leaves with it, so the next copy (the other socket's, the other task's) is
        written rather than absorbed as a duplicate of nothing."""
        try:
            return await self._enqueue(job)
        except BaseException:
            self._recent.forget(job.key, job.event.arrival if job.event is not None else "")
            raise

    async def _enqueue(self, job: Job) -> bool:
        """True when the queue was full and this waited for room."""
        self._pending[job.seq] = job.received_at  # counted from arrival, even while backpressure holds it here
        self._idle.clear()
        waited = self.queue.full()
        try:
            if waited:
                await self.queue.put(job)  # blocks: backpressure reaches the socket reader
            else:
                self.queue.put_nowait(job)
        except BaseException:
            self._pending.pop(job.seq, None)
            if not self._pending:
                self._idle.set()
            raise
        return waited

    async def _dispatch(self) -> None:
        """Queue -> lanes, as many at once as the lanes can take: one hand-over per batch."""
        while True:
            while self._free == 0:
                self._slot_freed.clear()
                await self._slot_freed.wait()
            batch = [await self.queue.get()]
            while len(batch) < self._free and not self.queue.empty():
                batch.append(self.queue.get_nowait())
            self._free -= len(batch)
            self._hand_over(batch)

    def _hand_over(self, jobs: list[Job]) -> None:
        ready: list[Job] = []
        for job in jobs:
            if job.item is NO_ITEM and not self._make_item(job):
                continue
            self._held[job.seq] = job
            ready.append(job)
        if ready:
            self._lanes.put_many(ready)

    def _make_item(self, job: Job) -> bool:
        """The event's item; False when none can be made: then the frame is kept in quarantine with why, and its
        slot is free again (the dispatcher must not die on one event)."""
        event = job.event
        assert event is not None  # a quarantine record is made with its item
        try:
            job.item, job.overflow = event_item(event, ttl_days=self._ttl_days)
            return True
        except Exception as exc:
            log.exception("no item could be made of an event; quarantined", extra={"key": job.key})
            reason = f"no item could be made of the event: {type(exc).__name__}: {excerpt(str(exc), 300)}"
        self._free += 1
        self._slot_freed.set()
        self._pending.pop(job.seq, None)
        self._quarantine_now(event, reason)
        if not self._pending:
            self._idle.set()
        return False

    def _quarantine_now(self, event: Received, reason: str) -> None:
        """Keep an event the store will not take whole, with why: handed to a lane at once, not queued (a full queue
        must never stand between a refusal and its record)."""
        record = self._quarantine_record(
            event.raw, reason, event.channel_id, event.shard, event.org, event.received_at, slotless=True
        )
        if record is not None:
            self._pending[record.seq] = record.received_at
            self._hand_over([record])

    def _answered(self, reports: list[Report]) -> None:
        """Answers from the lanes, on the event loop."""
        for report in reports:
            if isinstance(report, PutFailed):
                self._metrics.count("WriteErrors")
                self.failing_since = self.failing_since or self._clock()
                log.error(
                    "event write failed; retrying",
                    extra={"error": report.error, "detail": report.detail, "retry_in": report.retry_in},
                )
                continue
            job = self._held.pop(report.seq, None)
            if job is None:
                continue  # answered twice (a writer process restarted after answering): counted once
            self.failing_since = None
            if job.seq > 0:  # queued jobs hold a slot; a refusal's quarantine record was written without one
                self._free += 1
                self._slot_freed.set()
            self._settle(job, report.outcome)
            self._pending.pop(job.seq, None)
        if not self._pending:
            self._idle.set()

    def _settle(self, job: Job, outcome: WriteOutcome) -> None:
        if isinstance(outcome, Stored):
            if job.event is not None:
                self._metrics.count("EventsStored", org=job.event.org)
                if outcome.ordinal > 1:  # its content repeats an earlier notification's: kept as its own item
                    self._metrics.count("RepeatedContent")
                self._metrics.lag((self._clock() - job.received_at) * 1000)
        elif isinstance(outcome, Duplicate):
            if job.event is not None:
                self._metrics.count("DuplicatesAbsorbed")
        elif isinstance(outcome, Rejected):
            self._metrics.count("WriteRejected")
            if job.event is None:  # a quarantine record itself refused: nothing is left to keep it in
                log.critical(
                    "quarantine record refused by the store",
                    extra={"key": job.key, "reason": excerpt(outcome.reason, 300)},
                )
                return
            event = job.event
            log.error(
                "event refused by the store; quarantined",
                extra={
                    "key": job.key,
                    "shard": event.shard,
                    "channel_id": event.channel_id,
                    "reason": excerpt(outcome.reason, 300),
                },
            )
            self._quarantine_now(event, f"store refused the event: {outcome.reason}")

    async def drain(self, within: float) -> bool:
        """Until nothing is in memory (queued, held, or a refusal's record), or ``within`` seconds."""
        try:
            await asyncio.wait_for(self._idle.wait(), within)
        except TimeoutError:
            return False
        return True

    async def stop(self) -> int:
        """Stop dispatching and the lanes; returns how many events and records could not be written."""
        left = self.unwritten
        if self._dispatcher is not None:
            self._dispatcher.cancel()
            await asyncio.gather(self._dispatcher, return_exceptions=True)
        await asyncio.to_thread(self._lanes.stop)
        return left
