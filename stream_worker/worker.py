"""Composition: shards, supervisors, the writer, the ledger, metrics and health, and the shutdown sequence."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import logging
import os
import time
from collections.abc import Callable
from typing import Any

from evidence.store import EventStore
from genesys.backoff import Backoff
from genesys.http import HttpClient
from genesys.notifications import NotificationsApi
from genesys.observability import quiet_sdk_loggers
from genesys.regions import resolve_hosts
from genesys.token_reader import SecretSource, TokenReader
from genesys.token_secret import TokenSecret
from stream_worker.aws import AWS_CONFIG, CoverageTable
from stream_worker.connection import websocket_connector
from stream_worker.dedupe import DedupeWindow
from stream_worker.health import WRITE_EVERY, HealthState
from stream_worker.heap import release_free_memory
from stream_worker.ledger import LedgerRecorder
from stream_worker.metrics import WorkerMetrics
from stream_worker.put_lanes import Lanes, ProcessLanes, ThreadLanes
from stream_worker.settings import OrgTopics, WorkerSettings
from stream_worker.sharding import plan_shards
from stream_worker.supervisor import ChannelBudget, ShardSupervisor
from stream_worker.token_wait import TokenWait
from stream_worker.writer import EventWriter

log = logging.getLogger(__name__)
HEAP_RELEASE_EVERY = 60.0  # seconds between two returns of free memory to the system
SHUTDOWN_LINGER = 1.0  # keep sockets open this long after SIGTERM for frames already on the wire
TOKEN_FRESH_READS = 6  # the token secret is read afresh every 6 polls (30 s by default): new tokens go to new channels


WRITE_BACKOFF = functools.partial(Backoff, base=0.1, cap=10.0, reset_after=30.0)  # picklable: writer processes


def put_lanes(settings: WorkerSettings, store: EventStore) -> Lanes:
    """Threads of this process, or ``write_processes`` writer processes sharing ``write_concurrency`` threads."""
    if settings.write_processes == 1:
        return ThreadLanes(store, settings.write_concurrency, WRITE_BACKOFF)
    factory = functools.partial(EventStore.connect, settings.events_table, settings.payload_bucket, AWS_CONFIG)
    threads = max(1, settings.write_concurrency // settings.write_processes)
    return ProcessLanes(factory, settings.write_processes, threads, WRITE_BACKOFF)


class Worker:
    def __init__(
        self,
        settings: WorkerSettings,
        *,
        secrets: SecretSource,
        dynamodb: Any,
        s3: Any,
        http: HttpClient,
        clock: Callable[[], float] = time.time,
    ) -> None:
        quiet_sdk_loggers()
        self.settings = settings
        self._clock = clock
        self._http = http
        self.shards = plan_shards(settings)
        self.metrics = WorkerMetrics()
        self.writer = EventWriter(
            put_lanes(settings, EventStore(dynamodb, s3, settings.events_table, settings.payload_bucket)),
            self.metrics,
            queue_max=settings.queue_max,
            dedupe=DedupeWindow(settings.dedupe_cache, settings.dedupe_window),
            ttl_days=settings.event_ttl_days,
            clock=clock,
            on_failure=lambda _: self.request_stop(),
        )
        self.ledger = LedgerRecorder(
            CoverageTable(dynamodb, settings.coverage_table), settings.worker_id, asyncio.to_thread
        )
        self.stopping = asyncio.Event()
        self.shutdown_started_at: float | None = None
        # re-read the secret early, and often enough near expiry that a freshly minted token is picked up in time
        self.readers = readers = {
            o.name: TokenReader(
                secrets,
                o.token_secret,
                max_age=60,
                early_reread=settings.token_rotation_lead,
                reread_interval=settings.token_poll_interval,
                clock=clock,
            )
            for o in settings.orgs
        }
        budgets = {o.name: ChannelBudget(settings.channel_budget) for o in settings.orgs}
        self.token_waits = {
            o.name: TokenWait(o.name, o.token_secret, poll_interval=settings.token_poll_interval) for o in settings.orgs
        }
        connect = websocket_connector(keepalive=settings.keepalive_interval, open_timeout=settings.confirm_timeout)
        self.supervisors = [
            ShardSupervisor(
                shard,
                settings,
                reader=readers[shard.org.name],
                api_for=self._api_factory(shard.org),
                connect=connect,
                sink=self.writer,
                budget=budgets[shard.org.name],
                token_wait=self.token_waits[shard.org.name],
                ledger=self.ledger,
                metrics=self.metrics,
                stopping=self.stopping,
                clock=clock,
            )
            for shard in self.shards
        ]

    def _api_factory(self, org: OrgTopics) -> Callable[[TokenSecret], NotificationsApi]:
        api_url = resolve_hosts(org.environment).api_url
        return lambda token: NotificationsApi(api_url, token.access_token, self._http)

    # ---------------------------------------------------------------- views
    @property
    def coverage_started_at(self) -> float | None:
        """When every shard first had a confirmed socket: from here on no event may be lost."""
        starts = [s.first_covered_at for s in self.supervisors]
        return None if any(t is None for t in starts) else max(t for t in starts if t is not None)

    def live_sockets(self) -> dict[str, int]:
        return {s.shard.id: s.live_count() for s in self.supervisors}

    def health(self) -> HealthState:
        now = self._clock()
        return HealthState(
            ts=now,
            live=self.live_sockets(),
            writes_failing_for=round(self.writer.failing_for(now), 1),
            waiting_for_token=sorted(org for org, wait in self.token_waits.items() if wait.waiting),
            writer_stopped=self.writer.failed is not None,
        )

    # ---------------------------------------------------------------- running
    def request_stop(self) -> None:
        if not self.stopping.is_set():
            self.shutdown_started_at = self._clock()
            log.info("shutdown requested: no new sockets from now on")
            self.stopping.set()

    async def run(self) -> int:
        log.info(
            "stream worker starting",
            extra={
                "shards": {s.id: len(s.topics) for s in self.shards},
                "sockets_per_shard": self.settings.sockets_per_shard,
            },
        )
        # what start-up made (SDK models, clients, settings) lives as long as the process: out of the collector's
        # sight, a full collection no longer walks hundreds of thousands of objects that can never be garbage
        gc.freeze()
        self.writer.start()
        supervisors = [asyncio.create_task(s.run(), name=f"shard-{s.shard.id}") for s in self.supervisors]
        periodic = [
            asyncio.create_task(self._every(self.settings.metrics_interval, self.flush_metrics)),
            asyncio.create_task(self._every(self.settings.ledger_interval, self._ledger_tick)),
            asyncio.create_task(self._every(WRITE_EVERY, self._write_health, now=True)),
            asyncio.create_task(self._every(self.settings.token_poll_interval, self._keep_tokens_fresh)),
            # the allocator's free pages back to the system, once a minute (stream_worker/heap.py); off the loop
            asyncio.create_task(self._every(HEAP_RELEASE_EVERY, lambda: asyncio.to_thread(release_free_memory))),
        ]
        await self.stopping.wait()
        await asyncio.gather(*supervisors, return_exceptions=True)
        code = await self._shutdown()
        for task in periodic:
            task.cancel()
        await asyncio.gather(*periodic, return_exceptions=True)
        return code

    async def _shutdown(self) -> int:
        deadline = time.monotonic() + self.settings.drain_timeout
        await asyncio.sleep(SHUTDOWN_LINGER)
        try:  # sockets hand over what they read; a reader the writer keeps waiting is bounded by the deadline
            await asyncio.wait_for(
                asyncio.gather(*(s.close() for s in self.supervisors)), max(0.0, deadline - time.monotonic())
            )
        except TimeoutError:
            log.error("sockets still handing over frames at the shutdown deadline")
        # a writer that stopped dispatching writes nothing more: waiting for it would only spend the deadline
        flushed = self.writer.failed is None and await self.writer.drain(max(0.0, deadline - time.monotonic()))
        durable = self._durable_until() if self.writer.unwritten else float("inf")
        left = await self.writer.stop()  # queued and held by writers: both are unwritten
        await self.ledger.flush(durable)
        try:
            self.flush_metrics()
        except Exception:  # metrics must never stand between a shutdown and exit 0
            log.exception("final metrics flush failed")
        with contextlib.suppress(FileNotFoundError):
            os.remove(self.settings.health_file)
        if not flushed:
            log.critical("shutdown deadline reached with events not yet written", extra={"unwritten": left})
            return 1
        totals = self.metrics.totals
        log.info(
            "stream worker stopped",
            extra={
                "stored": totals["EventsStored"],
                "duplicates_absorbed": totals["DuplicatesAbsorbed"],
                "quarantined": totals["Quarantined"],
            },
        )
        return 0

    async def _every(self, interval: float, action: Callable[[], Any], *, now: bool = False) -> None:
        while True:
            if not now:
                await asyncio.sleep(interval)
            now = False
            try:
                result = action()
                if asyncio.iscoroutine(result):
                    await result
            except Exception:  # a periodic chore never takes the worker down
                log.exception("periodic task failed")

    async def _keep_tokens_fresh(self) -> None:
        # off the shard locks and the loop: a slow or unreachable Secrets Manager never delays a rotation
        life, every = self.settings.required_token_life, TOKEN_FRESH_READS * self.settings.token_poll_interval
        await asyncio.gather(*(asyncio.to_thread(r.keep_fresh, life, force_every=every) for r in self.readers.values()))

    async def _ledger_tick(self) -> None:
        for supervisor in self.supervisors:
            supervisor.prove_alive()
        await self.ledger.flush(self._durable_until())
        # proof comes only from pongs: ask now, so the next tick can claim up to here
        await asyncio.gather(*(s.ping_live() for s in self.supervisors))

    def _durable_until(self) -> float:
        """Events published before this are stored: the oldest unstored receive time, less the delivery allowance
        (an event published just before it may still have been on the wire)."""
        return self.writer.durable_until(self._clock()) - self.settings.delivery_allowance

    def flush_metrics(self) -> None:
        now = self._clock()
        stopping = self.stopping.is_set()
        # a shard that was never covered reports nothing: its alarm treats missing data as breaching anyway
        covered = {s.shard.id: s.live_count() for s in self.supervisors if s.first_covered_at is not None}
        self.metrics.flush(
            queue_depth=self.writer.queue.qsize(),
            live_sockets=None if stopping else covered,
            uncovered_totals={s.shard.id: s.uncovered_total(now) for s in self.supervisors},
        )

    def _write_health(self) -> None:
        self.health().write(self.settings.health_file)
