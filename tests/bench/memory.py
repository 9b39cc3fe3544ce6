"""Memory under sustained load (``make bench-memory``): one worker, 3,000 topics (3 shards, 6 sockets), unique events
from the emulator at a rate the worker is first shown to sustain, stored through the responder.

Three parts, each in its own process:
- ``headroom``: a minute at the offered rate: the events stored per second, the queue's depth, and the worker's CPU
  as a share of one core. The rate is sustained with headroom when everything offered is stored, the queue ends
  (nearly) empty and the worker's process leaves at least a fifth of its core idle. Without headroom a backlog
  grows in the queue and the memory figure would measure the queue, not a leak.
- ``steady_rss``: the run itself. Every minute: RSS (the worker's process; writer processes apart), the queue's
  depth, events stored. The slope (least squares, MB per minute) is taken over 5-second samples after the warm-up
  (the dedupe window's two generations fill in 120 s, the allocator's arenas settle after). With ``trace``,
  tracemalloc snapshots at the warm-up's end and at the run's end are diffed: what grew, by source line.
- ``queue_memory``: what the writer's queue holds when full (``QUEUE_MAX`` jobs of 0.5 KB events), by tracemalloc.
"""

from __future__ import annotations

import asyncio
import gc
import sys
import time
import tracemalloc
import uuid
from typing import Any

import boto3

from stream_worker.aws import AWS_CONFIG
from tests.bench.harness import bench_worker, cpu_seconds, emulator_process, rss_mb, started

SAMPLE_EVERY = 5.0
HEADROOM_CPU = 0.8  # of one core, at most, for the worker's process at the offered rate


def slope_per_minute(samples: list[tuple[float, float]]) -> float:
    n = len(samples)
    mean_t = sum(t for t, _ in samples) / n
    mean_v = sum(v for _, v in samples) / n
    spread = sum((t - mean_t) ** 2 for t, _ in samples)
    return 60 * sum((t - mean_t) * (v - mean_v) for t, v in samples) / spread if spread else 0.0


def topic_names(topics: int) -> list[str]:
    return [f"v2.users.{uuid.UUID(int=n + 1, version=4)}.presence" for n in range(topics)]


def _worker(base: str, topics: int, url: str, write_processes: int) -> Any:
    client = boto3.client("dynamodb", endpoint_url=url, config=AWS_CONFIG)
    return bench_worker(base, topic_names(topics), client, metrics_interval=60, write_processes=write_processes)


def _writer_rss(worker: Any) -> float:
    lanes = worker.writer._lanes  # the bench looks inside: writer processes' RSS is reported apart
    return sum(rss_mb(pid) for pid in lanes.pids()) if hasattr(lanes, "pids") else 0.0


def headroom(rate: float, topics: int, url: str, write_processes: int = 1, seconds: float = 60.0) -> dict[str, Any]:
    with emulator_process("--event-rate", str(rate)) as base:

        async def run() -> dict[str, Any]:
            worker = _worker(base, topics, url, write_processes)
            stop = await started(worker, 2 * -(-topics // 1000))
            await asyncio.sleep(10)  # the first seconds' connections and caches
            stored0, cpu0, wall0 = worker.metrics.totals["EventsStored"], cpu_seconds(), time.perf_counter()
            depths = []
            while time.perf_counter() - wall0 < seconds:
                await asyncio.sleep(1.0)
                depths.append(worker.writer.unwritten)
            elapsed = time.perf_counter() - wall0
            stored = worker.metrics.totals["EventsStored"] - stored0
            cpu = cpu_seconds() - cpu0
            await stop()
            return {
                "offered_per_s": rate,
                "stored_per_s": stored / elapsed,
                "queue_max": max(depths),
                "queue_end": depths[-1],
                "cpu_share": cpu / elapsed,
            }

        result = asyncio.run(run())
    result["sustained"] = (
        result["stored_per_s"] >= 0.97 * rate and result["queue_end"] <= rate and result["cpu_share"] <= HEADROOM_CPU
    )
    return result


def steady_rss(
    minutes: float,
    rate: float,
    topics: int,
    url: str,
    write_processes: int = 1,
    warm_up: float = 5.0,
    trace: bool = False,
) -> dict[str, Any]:
    if trace:
        tracemalloc.start(10)
    with emulator_process("--event-rate", str(rate)) as base:

        async def run() -> dict[str, Any]:
            worker = _worker(base, topics, url, write_processes)
            stop = await started(worker, 2 * -(-topics // 1000))
            begin = time.monotonic()
            samples: list[tuple[float, float]] = []
            minutes_seen: list[dict[str, float]] = []
            stored_before = 0.0
            snapshots: list[tracemalloc.Snapshot] = []
            while (now := time.monotonic() - begin) < minutes * 60:
                await asyncio.sleep(SAMPLE_EVERY)
                now = time.monotonic() - begin
                samples.append((now, rss_mb()))
                if trace and not snapshots and now >= warm_up * 60:
                    gc.collect()
                    snapshots.append(tracemalloc.take_snapshot())
                if now >= (len(minutes_seen) + 1) * 60:
                    stored = float(worker.metrics.totals["EventsStored"])
                    minutes_seen.append(
                        {
                            "minute": len(minutes_seen) + 1,
                            "rss_mb": samples[-1][1],
                            "writer_processes_rss_mb": _writer_rss(worker),
                            "queue_depth": worker.writer.unwritten,
                            "stored_per_s": (stored - stored_before) / 60,
                        }
                    )
                    stored_before = stored
                    m = minutes_seen[-1]
                    print(  # a line a minute, as it happens: the parent passes this process's stderr through
                        f"| {m['minute']:.0f} | {m['rss_mb']:.1f} | {m['writer_processes_rss_mb']:.1f} | "
                        f"{m['queue_depth']:.0f} | {m['stored_per_s']:.0f} |",
                        file=sys.stderr,
                        flush=True,
                    )
            grown: list[str] = []
            if trace and snapshots:
                gc.collect()
                diff = tracemalloc.take_snapshot().compare_to(snapshots[0], "lineno")
                grown = [str(stat) for stat in diff[:10]]
            stored_total = int(worker.metrics.totals["EventsStored"])
            await stop()
            return {"samples": samples, "minutes_seen": minutes_seen, "grown": grown, "stored": stored_total}

        found = asyncio.run(run())
    samples = found["samples"]
    steady = [(t, v) for t, v in samples if t >= warm_up * 60] or samples[-2:]
    return {
        "rss_mb_steady": sum(v for _, v in steady) / len(steady),
        "rss_mb_max": max(v for _, v in steady),
        "rss_slope_mb_per_min": slope_per_minute(steady),
        "stored_per_s": found["stored"] / (minutes * 60),
        "per_minute": found["minutes_seen"],
        "tracemalloc_grown": found["grown"],
        "minutes": minutes,
        "warm_up_minutes": warm_up,
    }


def queue_memory(queue_max: int, size: int = 500) -> dict[str, Any]:
    """What the writer's queue holds when full: ``queue_max`` jobs, each with its event (the raw frame, its parse;
    the item is made as a job leaves the queue), traced from the frames' making on."""
    from stream_worker.writer import NO_ITEM, Job
    from tests.bench.store import envelopes

    gc.collect()
    tracemalloc.start()
    received = envelopes(queue_max, size)
    jobs = [Job(e.key, NO_ITEM, None, e.received_at, e, n + 1) for n, e in enumerate(received)]
    held = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return {"queue_max": len(jobs), "frame_bytes": size, "queue_mb": held / 2**20, "bytes_per_job": held / len(jobs)}
