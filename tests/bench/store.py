"""The write path against the responder: raw boto3 conditional puts (the baseline), the worker end to end, and the
writer alone with one and with two writer processes. Each runs in its own process and measures in slices, as the
parent says (tests/bench/slices.py): each slice reports its events, CPU seconds and wall seconds."""

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
    stored,
    until,
)
from tests.bench.slices import Commands, slice_figures

TOPIC = "v2.users.6a1c1e0b-7f3e-4a5e-9a7c-2d9e1f0c3b4a.presence"


def envelopes(count: int, size: int = 500, tag: str = "") -> list[Received]:
    """Unique notifications of about ``size`` bytes, as the worker would have received them; ``tag`` keeps one
    batch's keys apart from another's."""
    found = []
    for n in range(count):
        body: dict[str, Any] = {
            "id": f"u-{tag}{n}",
            "systemPresence": "Available",
            "modifiedDate": "2026-12-01T10:00:00Z",
        }
        envelope = {"topicName": TOPIC, "version": "2", "eventBody": body, "metadata": {"CorrelationId": f"{n:036d}"}}
        body["attributes"] = {"pad": "x" * max(0, size - len(json.dumps(envelope)) - 30)}
        found.append(Received.of(json.dumps(envelope), envelope, "ch", "bench:0", "bench", time.time()))
    return found


def raw(threads: int, url: str, commands: Commands, per_slice: int, create_table: bool = False) -> None:
    """The baseline: boto3 conditional puts of the worker's own items, with the worker's request, ``threads`` at once
    (a pool started before the first slice, as the worker's put threads are)."""
    client = boto3.client("dynamodb", endpoint_url=url, config=AWS_CONFIG)
    if create_table:  # moto: the table must exist
        from evidence.schema import EVENTS, create_table_kwargs

        client.create_table(**create_table_kwargs("events", EVENTS))  # type: ignore[arg-type]
    store = EventStore(client, None, "events", "")

    def put(item: dict[str, Any]) -> None:
        store.put_new(item["pk"]["S"], item, None)

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(put, [event_item(e)[0] for e in envelopes(threads, tag="warm-")]))  # connections warm
        number = 0
        while commands.next():
            number += 1
            items = [event_item(e)[0] for e in envelopes(per_slice, tag=f"{number}-")]  # made before the clock
            begin, wall = cpu_seconds(), time.perf_counter()
            list(pool.map(put, items))
            commands.report(slice_figures(per_slice, cpu_seconds() - begin, time.perf_counter() - wall))


def worker(threads: int, url: str, commands: Commands, per_slice: int) -> None:
    """The worker end to end: emulator socket -> pipeline -> conditional puts against the responder; each slice a
    burst of ``per_slice`` events from the emulator, until every one is stored."""
    client = boto3.client("dynamodb", endpoint_url=url, config=AWS_CONFIG)
    with emulator_process("--event-rate", "0") as base:

        async def run() -> None:
            bridge = bench_worker(base, [TOPIC], client, sockets_per_shard=1, write_concurrency=threads)
            stop = await started(bridge, 1)
            await asyncio.to_thread(fault, base, "burst", count=20, size=500)  # warm, as raw's first puts
            await until(stored(bridge.metrics, 20), 60, "warm-up stored", interval=0.05)
            totals = bridge.metrics.totals
            while await asyncio.to_thread(commands.next):
                target, received = totals["EventsStored"] + per_slice, totals["EventsReceived"]
                begin = cpu_seconds()
                burst = asyncio.create_task(asyncio.to_thread(fault, base, "burst", count=per_slice, size=500))
                # the emulator makes the whole burst before it sends the first frame (20 ms or more): the worker's
                # time starts with its first event, as the raw puts' starts with their first put
                await until(
                    stored(bridge.metrics, received + 1, "EventsReceived"), 60, "the burst's first event", 0.001
                )
                wall = time.perf_counter()
                await until(stored(bridge.metrics, target), 600, "all stored", 0.005)
                commands.report(slice_figures(per_slice, cpu_seconds() - begin, time.perf_counter() - wall))
                await burst
            await stop()

        asyncio.run(run())


def writer(processes: int, threads: int, url: str, commands: Commands, per_slice: int, tag: str = "") -> None:
    """The writer alone, fed as fast as it takes events: the unique events/s one task stores before its queue
    grows. ``processes`` > 1: that many writer processes share ``threads`` put threads. CPU counts the writer
    processes' too."""
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

    async def run() -> None:
        metrics = WorkerMetrics()
        lanes = put_lanes(settings, EventStore(client, None, "events", ""))
        events_writer = EventWriter(lanes, metrics, queue_max=settings.queue_max, dedupe=DedupeWindow(500_000))
        events_writer.start()
        for event in envelopes(50, tag=f"{tag}warm-"):  # the processes started and their connections warm
            await events_writer.submit(event)
        await until(stored(metrics, 50), 120, "warm-up stored", 0.05)
        pids: list[int] = lanes.pids() if isinstance(lanes, ProcessLanes) else []
        number = 0
        while await asyncio.to_thread(commands.next):
            number += 1
            received = envelopes(per_slice, tag=f"{tag}{number}-")
            target = metrics.totals["EventsStored"] + per_slice
            begin = cpu_seconds() + sum(process_cpu_seconds(p) for p in pids)
            wall = time.perf_counter()
            for event in received:
                await events_writer.submit(event)
            await until(stored(metrics, target), 600, "all stored", 0.005)
            elapsed = time.perf_counter() - wall
            cpu = cpu_seconds() + sum(process_cpu_seconds(p) for p in pids) - begin
            commands.report(slice_figures(per_slice, cpu, elapsed))
        await events_writer.stop()

    asyncio.run(run())
