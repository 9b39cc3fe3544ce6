"""Events lost on one fault schedule (maintenance closes every 4 s, 8 s tokens): the naive client, one socket that
reconnects when it drops, against the worker, side by side on the same emulator."""

from __future__ import annotations

import asyncio
import time
from typing import Any

TOPICS = ["v2.users.alice.presence", "v2.routing.queues.support.conversations"]


def loss(seconds: float) -> dict[str, Any]:
    import boto3

    from emulator import EmulatorConfig, EmulatorServer
    from genesys.token_secret import TokenSecret
    from local_stack.aws import local_aws
    from local_stack.naive_client import NaiveClient
    from stream_worker.verify import verify
    from tests.support.bridge import fast_bridge as build_bridge

    config = EmulatorConfig(event_rate=50, token_lifetime=8, heartbeat_interval=0.5, socket_closing_grace=3, seed=11)
    with local_aws(), EmulatorServer(config) as emu:
        bridge = build_bridge(emu, TOPICS)
        secrets = boto3.client("secretsmanager")

        def read_token() -> TokenSecret:
            return TokenSecret.from_json(secrets.get_secret_value(SecretId=bridge.names.token_secret)["SecretString"])

        async def run() -> tuple[Any, Any, int]:
            await bridge.start()
            naive = NaiveClient(emu.base_url, TOPICS, read_token)
            task = asyncio.create_task(naive.run())
            await asyncio.sleep(1)
            start = time.time()
            faults = 0
            while time.time() - start < seconds:  # token expiry every 8 s, plus a maintenance close every 4 s
                await asyncio.sleep(2)
                emu.fault("socket_closing")
                faults += 1
                await asyncio.sleep(2)
            end = time.time()
            naive.stop()
            await task
            await bridge.stop()
            truth = [e.as_json() for e in emu.events()]
            return verify(truth, naive.keys, set(TOPICS), (start, end)), bridge.verification(), faults

        naive_result, worker_result, faults = asyncio.run(run())
    return {
        "naive_published": naive_result.published,
        "naive_lost": naive_result.lost,
        "worker_published": worker_result.published,
        "worker_lost": worker_result.lost,
        "faults": faults,
    }
