"""Bounded queue -> bounded write concurrency -> conditional puts. An event leaves memory only once stored.

Each write ends in one of three outcomes: stored, a duplicate absorbed, or rejected for good. A rejected event is
kept as a quarantine record with the store's reason and the raw frame whole. Only failures that can succeed later
(throttling, 5xx, network, permissions) are retried, with backoff, for as long as it takes.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol

from genesys.backoff import Backoff
from genesys.event_store import Duplicate, Rejected, Stored, WriteOutcome
from genesys.frames import excerpt
from genesys.records import Item, Received, event_item, quarantine_item
from stream_worker.metrics import WorkerMetrics

log = logging.getLogger(__name__)


class ConditionalPuts(Protocol):
    """What the writer needs of the store (EventStore, or a scripted one in tests)."""

    def put_new(self, key: str, item: Item, overflow: bytes | None) -> WriteOutcome: ...


@dataclass(frozen=True, slots=True)
class Job:
    key: str
    item: Item
    overflow: bytes | None
    received_at: float
    event: Received | None = None  # None for a quarantine record
    seq: int = 0


class EventWriter:
    def __init__(
        self,
        store: ConditionalPuts,
        metrics: WorkerMetrics,
        *,
        concurrency: int,
        queue_max: int,
        dedupe_cache: int,
        ttl_days: int | None = None,
        clock: Callable[[], float] = time.time,
        backoff: Callable[[], Backoff] = lambda: Backoff(base=0.1, cap=10.0, reset_after=30.0),
    ) -> None:
        self._store = store
        self._metrics = metrics
        self._concurrency = concurrency
        self.queue: asyncio.Queue[Job] = asyncio.Queue(maxsize=queue_max)
        self._recent: OrderedDict[str, None] = OrderedDict()
        self._dedupe_cache = dedupe_cache
        self._ttl_days = ttl_days
        self._clock = clock
        self._backoff = backoff
        self._executor = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="ddb-write")
        self._tasks: list[asyncio.Task[None]] = []
        self.in_flight = 0  # jobs a writer has taken from the queue and not finished
        self._pending: dict[int, float] = {}  # receive time of every frame in memory (waiting, queued or held)
        self._seq = itertools.count(1)
        self.failing_since: float | None = None

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._run(), name=f"writer-{i}") for i in range(self._concurrency)]

    @property
    def unwritten(self) -> int:
        """Events and quarantine records in memory: queued, or held by a writer."""
        return self.queue.qsize() + self.in_flight

    def durable_until(self, now: float) -> float:
        """Every frame received before this moment is stored (or quarantined): what the ledger may claim."""
        return min(self._pending.values(), default=now)

    def failing_for(self, now: float) -> float:
        return 0.0 if self.failing_since is None else now - self.failing_since

    async def submit(self, event: Received) -> None:
        self._metrics.count("EventsReceived")
        if self._seen(event.key):
            self._metrics.count("DuplicatesAbsorbed")
            return
        item, overflow = event_item(event, ttl_days=self._ttl_days)
        await self._enqueue(Job(event.key, item, overflow, event.received_at, event, next(self._seq)))

    async def quarantine(self, raw: str, reason: str, channel_id: str, shard: str, org: str, at: float) -> None:
        log.warning(
            "frame quarantined",
            extra={"reason": reason, "channel_id": channel_id, "shard": shard, "frame": excerpt(raw)},
        )
        record = self._quarantine_record(raw, reason, channel_id, shard, org, at)
        if record is not None:
            await self._enqueue(record)

    def _quarantine_record(self, raw: str, reason: str, channel_id: str, shard: str, org: str, at: float) -> Job | None:
        """The job that keeps a frame whole with its reason; None when that very frame is already kept."""
        item, overflow = quarantine_item(raw, reason, channel_id, shard, org, at)
        self._metrics.count("Quarantined")
        key = item["pk"]["S"]
        return None if self._seen(key) else Job(key, item, overflow, at, seq=next(self._seq))

    async def _enqueue(self, job: Job) -> None:
        self._pending[job.seq] = job.received_at  # counted from arrival, even while backpressure holds it here
        try:
            await self.queue.put(job)  # blocks when full: backpressure reaches the socket reader
        except BaseException:
            self._pending.pop(job.seq, None)
            raise

    def _seen(self, key: str) -> bool:
        """Keys in flight or stored recently: the overlap's second copy costs no write."""
        if key in self._recent:
            self._recent.move_to_end(key)
            return True
        self._recent[key] = None
        while len(self._recent) > self._dedupe_cache:
            self._recent.popitem(last=False)
        return False

    async def _run(self) -> None:
        while True:
            job = await self.queue.get()
            self.in_flight += 1
            try:
                outcome = await self._write(job)
                await self._settle(job, outcome)
            finally:
                self.in_flight -= 1
                self._pending.pop(job.seq, None)
                self.queue.task_done()

    async def _write(self, job: Job) -> WriteOutcome:
        loop = asyncio.get_running_loop()
        backoff = self._backoff()
        while True:
            try:
                outcome = await loop.run_in_executor(
                    self._executor, self._store.put_new, job.key, job.item, job.overflow
                )
            except Exception as exc:  # throttling beyond botocore's retries, 5xx, network, permissions
                self._metrics.count("WriteErrors")
                self.failing_since = self.failing_since or self._clock()
                delay = backoff.next_delay()
                log.error(
                    "event write failed; retrying",
                    extra={"error": type(exc).__name__, "detail": excerpt(str(exc), 200), "retry_in": round(delay, 3)},
                )
                await asyncio.sleep(delay)
                continue
            self.failing_since = None
            return outcome

    async def _settle(self, job: Job, outcome: WriteOutcome) -> None:
        if isinstance(outcome, Stored):
            if job.event is not None:
                self._metrics.count("EventsStored")
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
            # written by this writer, not queued: a full queue must never stand between a refusal and its record
            reason = f"store refused the event: {outcome.reason}"
            record = self._quarantine_record(
                event.raw, reason, event.channel_id, event.shard, event.org, event.received_at
            )
            if record is not None:
                await self._settle(record, await self._write(record))

    async def drain(self, within: float) -> bool:
        try:
            await asyncio.wait_for(self.queue.join(), within)
        except TimeoutError:
            return False
        return True

    async def stop(self) -> int:
        """Cancel the writers; returns how many events and records could not be written."""
        left = self.unwritten
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._executor.shutdown(wait=True, cancel_futures=True)
        return left
