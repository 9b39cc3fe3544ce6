"""Memory under sustained load: one worker, 3,000 topics (3 shards, 6 sockets), 500 unique events/s from the
emulator, stored through the responder, for ``minutes``. RSS is sampled every few seconds. Warm-up is the first
40% (4 minutes of 10: the dedupe window's two generations fill in 120 s, and the allocator's arenas settle after);
the rest gives the steady level and its slope (least squares, MB per minute)."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import boto3

from stream_worker.aws import AWS_CONFIG
from tests.bench.harness import bench_worker, emulator_process, rss_mb, started

SAMPLE_EVERY = 5.0
WARM_UP = 0.4  # of the run


def slope_per_minute(samples: list[tuple[float, float]]) -> float:
    n = len(samples)
    mean_t = sum(t for t, _ in samples) / n
    mean_v = sum(v for _, v in samples) / n
    spread = sum((t - mean_t) ** 2 for t, _ in samples)
    return 60 * sum((t - mean_t) * (v - mean_v) for t, v in samples) / spread if spread else 0.0


def steady_rss(minutes: float, rate: float, topics: int, url: str) -> dict[str, Any]:
    names = [f"v2.users.{uuid.UUID(int=n + 1, version=4)}.presence" for n in range(topics)]
    client = boto3.client("dynamodb", endpoint_url=url, config=AWS_CONFIG)
    with emulator_process("--event-rate", str(rate)) as base:

        async def run() -> tuple[list[tuple[float, float]], int]:
            worker = bench_worker(base, names, client, metrics_interval=60)
            stop = await started(worker, 2 * -(-topics // 1000))
            begin = time.monotonic()
            samples: list[tuple[float, float]] = []
            while time.monotonic() - begin < minutes * 60:
                await asyncio.sleep(SAMPLE_EVERY)
                samples.append((time.monotonic() - begin, rss_mb()))
            stored = int(worker.metrics.totals["EventsStored"])
            await stop()
            return samples, stored

        samples, stored = asyncio.run(run())
    warm = minutes * 60 * WARM_UP
    steady = [(t, v) for t, v in samples if t >= warm] or samples[-2:]
    seconds = minutes * 60
    return {
        "rss_mb_steady": sum(v for _, v in steady) / len(steady),
        "rss_mb_max": max(v for _, v in steady),
        "rss_slope_mb_per_min": slope_per_minute(steady),
        "stored_per_s": stored / seconds,
        "minutes": minutes,
    }
