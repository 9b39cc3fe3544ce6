"""Bounded queue -> bounded write concurrency -> conditional puts. An event leaves memory only once stored."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from genesys.backoff import Backoff
from genesys.frames import excerpt
from stream_worker.aws import EventStore
from stream_worker.metrics import WorkerMetrics
from stream_worker.records import Item, Received, event_item, quarantine_item

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Job:
    key: str
    item: Item
    overflow: bytes | None
    received_at: float
    quarantine: bool = False


class EventWriter:
    def __init__(
        self,
        store: EventStore,
        metrics: WorkerMetrics,
        *,
        concurrency: int,
        queue_max: int,
        dedupe_cache: int,
        ttl_days: int | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._metrics = metrics
        self._concurrency = concurrency
        self.queue: asyncio.Queue[Job] = asyncio.Queue(maxsize=queue_max)
        self._recent: OrderedDict[str, None] = OrderedDict()
        self._dedupe_cache = dedupe_cache
        self._ttl_days = ttl_days
        self._clock = clock
        self._executor = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="ddb-write")
        self._tasks: list[asyncio.Task[None]] = []
        self.last_success: float | None = None
        self.failing_since: float | None = None

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._run(), name=f"writer-{i}") for i in range(self._concurrency)]

    async def submit(self, event: Received) -> None:
        self._metrics.count("EventsReceived")
        key = event.key
        if self._seen(key):
            self._metrics.count("DuplicatesAbsorbed")
            return
        item, overflow = event_item(event, ttl_days=self._ttl_days)
        await self.queue.put(Job(key, item, overflow, event.received_at))  # blocks when full: backpressure

    async def quarantine(self, raw: str, reason: str, channel_id: str, shard: str, org: str, at: float) -> None:
        item, overflow = quarantine_item(raw, reason, channel_id, shard, org, at)
        key = item["pk"]["S"]
        self._metrics.count("Quarantined")
        log.warning(
            "malformed frame quarantined",
            extra={"reason": reason, "channel_id": channel_id, "shard": shard, "frame": excerpt(raw)},
        )
        if not self._seen(key):
            await self.queue.put(Job(key, item, overflow, at, quarantine=True))

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
        loop = asyncio.get_running_loop()
        backoff = Backoff(base=0.1, cap=10.0, reset_after=30.0)
        while True:
            job = await self.queue.get()
            try:
                while True:
                    try:
                        stored = await loop.run_in_executor(self._executor, self._store.put_new, job.item, job.overflow)
                        break
                    except Exception as exc:  # throttling beyond botocore's retries, network, 5xx
                        self._metrics.count("WriteErrors")
                        self.failing_since = self.failing_since or self._clock()
                        delay = backoff.next_delay()
                        log.error(
                            "event write failed; retrying",
                            extra={"error": type(exc).__name__, "detail": excerpt(str(exc), 200), "retry_in": delay},
                        )
                        await asyncio.sleep(delay)
                now = self._clock()
                self.last_success, self.failing_since = now, None
                if stored and not job.quarantine:
                    self._metrics.count("EventsStored")
                    self._metrics.lag((now - job.received_at) * 1000)
                elif not stored and not job.quarantine:
                    self._metrics.count("DuplicatesAbsorbed")
            finally:
                self.queue.task_done()

    async def drain(self, within: float) -> bool:
        try:
            await asyncio.wait_for(self.queue.join(), within)
        except TimeoutError:
            return False
        return True

    async def stop(self) -> int:
        """Cancel the writers; returns how many queued events could not be written."""
        left = self.queue.qsize()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._executor.shutdown(wait=True, cancel_futures=True)
        return left

    def healthy(self, now: float, max_failing: float) -> bool:
        return self.failing_since is None or now - self.failing_since < max_failing
