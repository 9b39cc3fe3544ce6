"""Pipeline CPU per event without a store: the worker (socket -> classify -> key -> dedupe -> item -> lane -> an
instant store) against a bare receive loop on the same emulator, each in its own process."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import websockets

from tests.bench.harness import (
    CLIENT,
    InstantDynamoDB,
    bench_worker,
    cpu_seconds,
    emulator_process,
    fault,
    started,
    stored,
    until,
)
from tests.bench.slices import Commands, slice_figures

TOPICS = [
    "v2.users.6a1c1e0b-7f3e-4a5e-9a7c-2d9e1f0c3b4a.presence",
    "v2.users.0b9d2c4e-1a2b-4c3d-8e9f-0a1b2c3d4e5f.presence",
]


def bare(size: int, commands: Commands, per_slice: int) -> None:
    """The baseline: one socket, receive every frame and count it. Nothing else."""
    with emulator_process("--event-rate", "0") as base:
        http = httpx.Client()
        token = http.post(f"{base}/oauth/token", data={"grant_type": "client_credentials"}, auth=CLIENT).json()
        headers = {"Authorization": f"Bearer {token['access_token']}"}
        channel = http.post(f"{base}/api/v2/notifications/channels", headers=headers).json()
        http.put(
            f"{base}/api/v2/notifications/channels/{channel['id']}/subscriptions",
            headers=headers,
            json=[{"id": t} for t in TOPICS],
        )

        async def receive() -> None:
            async with websockets.connect(channel["connectUri"], max_size=2**24, ping_interval=None) as ws:
                while await asyncio.to_thread(commands.next):
                    begin, wall = cpu_seconds(), time.perf_counter()
                    await asyncio.to_thread(fault, base, "burst", count=per_slice, size=size)
                    seen = 0
                    while seen < per_slice:
                        frame = await ws.recv()
                        if '"eventBody"' in frame and "channel.metadata" not in frame:
                            seen += 1
                    commands.report(slice_figures(per_slice, cpu_seconds() - begin, time.perf_counter() - wall))

        asyncio.run(receive())


def worker(size: int, commands: Commands, per_slice: int, **settings: Any) -> None:
    """The worker, one socket per shard, storing into a store that answers at once (in process)."""
    with emulator_process("--event-rate", "0") as base:

        async def run() -> None:
            bridge = bench_worker(
                base, TOPICS, InstantDynamoDB(), **{"sockets_per_shard": 1, "ledger_interval": 5, **settings}
            )
            stop = await started(bridge, 1)
            while await asyncio.to_thread(commands.next):
                target = bridge.metrics.totals["EventsStored"] + per_slice
                begin, wall = cpu_seconds(), time.perf_counter()
                await asyncio.to_thread(fault, base, "burst", count=per_slice, size=size)
                await until(stored(bridge.metrics, target), 300, "all stored")
                commands.report(slice_figures(per_slice, cpu_seconds() - begin, time.perf_counter() - wall))
            await stop()

        asyncio.run(run())
