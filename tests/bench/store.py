"""The write path against the responder: raw boto3 conditional puts (the baseline), the worker end to end, and the
writer alone with one and with two writer processes. Each runs in its own process (see harness.run_child)."""

from __future__ import annotations

import asyncio
import json
import os
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3

from evidence.records import Received, event_item
from evidence.store import EventStore
from stream_worker.aws import AWS_CONFIG
from stream_worker.put_lanes import ProcessLanes
from tests.bench.harness import (
    bench_worker,
    cpu_seconds,
    emulator_process,
    fault,
    process_cpu_seconds,
    started,
    until,
)

TOPIC = "v2.users.6a1c1e0b-7f3e-4a5e-9a7c-2d9e1f0c3b4a.presence"


def envelopes(count: int, size: int = 500) -> list[Received]:
    """Unique notifications of about ``size`` bytes, as the worker would have received them."""
    found = []
    for n in range(count):
        body: dict[str, Any] = {"id": f"u-{n}", "systemPresence": "Available", "modifiedDate": "2026-12-01T10:00:00Z"}
        envelope = {"topicName": TOPIC, "version": "2", "eventBody": body, "metadata": {"CorrelationId": f"{n:036d}"}}
        body["attributes"] = {"pad": "x" * max(0, size - len(json.dumps(envelope)) - 30)}
        found.append(Received.of(json.dumps(envelope), envelope, "ch", "bench:0", "bench", time.time()))
    return found


def raw(puts: int, threads: int, url: str, create_table: bool = False) -> dict[str, Any]:
    """The baseline: boto3 conditional puts of the worker's own items, with the worker's request, ``threads`` at once."""
    client = boto3.client("dynamodb", endpoint_url=url, config=AWS_CONFIG)
    if create_table:  # moto: the table must exist
        from evidence.schema import EVENTS, create_table_kwargs

        client.create_table(**create_table_kwargs("events", EVENTS))  # type: ignore[arg-type]
    items = [event_item(e)[0] for e in envelopes(puts)]
    store = EventStore(client, None, "events", "")

    def put(item: dict[str, Any]) -> None:
        store.put_new(item["pk"]["S"], item, None)

    put(items[0])  # connections and endpoint resolution warm, as the worker's are
    begin, wall = cpu_seconds(), time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(put, items[1:]))
    cpu, elapsed = cpu_seconds() - begin, time.perf_counter() - wall
    return {"puts_per_s": (puts - 1) / elapsed, "cpu_us_per_put": cpu / (puts - 1) * 1e6}


def worker(events: int, threads: int, url: str) -> dict[str, Any]:
    """The worker end to end: emulator socket -> pipeline -> conditional puts against the responder."""
    client = boto3.client("dynamodb", endpoint_url=url, config=AWS_CONFIG)
    with emulator_process("--event-rate", "0") as base:

        async def run() -> tuple[float, float]:
            bridge = bench_worker(base, [TOPIC], client, sockets_per_shard=1, write_concurrency=threads)
            stop = await started(bridge, 1)
            await asyncio.to_thread(fault, base, "burst", count=20, size=500)  # warm, as raw's first put
            await until(lambda: bridge.metrics.totals["EventsStored"] >= 20, 60, "warm-up stored", interval=0.05)
            begin, wall = cpu_seconds(), time.perf_counter()
            await asyncio.to_thread(fault, base, "burst", count=events, size=500)
            await until(lambda: bridge.metrics.totals["EventsStored"] >= events + 20, 600, "all stored", 0.01)
            result = cpu_seconds() - begin, time.perf_counter() - wall
            await stop()
            return result

        cpu, elapsed = asyncio.run(run())
    return {"stored_per_s": events / elapsed, "cpu_us_per_stored": cpu / events * 1e6}


def writer(events: int, processes: int, threads: int, url: str) -> dict[str, Any]:
    """The writer alone, fed as fast as it takes events: the unique events/s one task stores before its queue
    grows. ``processes`` > 1: that many writer processes share ``threads`` put threads."""
    from stream_worker.dedupe import DedupeWindow
    from stream_worker.metrics import WorkerMetrics
    from stream_worker.settings import load_settings, worker_environment
    from stream_worker.worker import put_lanes
    from stream_worker.writer import EventWriter

    os.environ["AWS_ENDPOINT_URL_DYNAMODB"] = url  # writer processes make their own clients, from the environment
    org = {"name": "bench", "environment": "mypurecloud.ie", "token_secret": "t", "topics": [TOPIC]}
    settings = load_settings(
        worker_environment(
            orgs=[org],
            events_table="events",
            coverage_table="coverage",
            payload_bucket="payloads",
            write_concurrency=threads,
            write_processes=processes,
        )
    )
    client = boto3.client("dynamodb", endpoint_url=url, config=AWS_CONFIG)
    received = envelopes(events + 50)

    async def run() -> tuple[float, float]:
        metrics = WorkerMetrics()
        lanes = put_lanes(settings, EventStore(client, None, "events", ""))
        events_writer = EventWriter(lanes, metrics, queue_max=settings.queue_max, dedupe=DedupeWindow(500_000))
        events_writer.start()
        for event in received[:50]:  # the processes started and their connections warm
            await events_writer.submit(event)
        await until(lambda: metrics.totals["EventsStored"] >= 50, 120, "warm-up stored", 0.05)
        pids: list[int] = lanes.pids() if isinstance(lanes, ProcessLanes) else []
        begin = cpu_seconds() + sum(process_cpu_seconds(p) for p in pids)
        wall = time.perf_counter()
        for event in received[50:]:
            await events_writer.submit(event)
        await until(lambda: metrics.totals["EventsStored"] >= events + 50, 600, "all stored", 0.01)
        elapsed = time.perf_counter() - wall
        cpu = cpu_seconds() + sum(process_cpu_seconds(p) for p in pids) - begin
        await events_writer.stop()
        return elapsed, cpu

    elapsed, cpu = asyncio.run(run())
    return {"stored_per_s": events / elapsed, "cpu_us_per_stored": cpu / events * 1e6}
