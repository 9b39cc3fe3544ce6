"""`make bench`: figures as ratios against baselines measured in the same run, on this machine.

1. store: the worker's end-to-end stored events/s vs raw conditional puts at the same concurrency (same moto server)
2. pipeline: the worker without the store vs a bare websockets receive loop (same emulator process), with CPU
   microseconds per event and peak RSS, each variant in its own process
3. vend: warm requests/s through the handler, Secrets Manager calls per 1,000, vs reading the secret per request
4. loss: the naive client's lost events vs the worker's, side by side on one fault schedule
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, cast

WRITE_CONCURRENCY = 16
TOPICS = ["v2.users.alice.presence", "v2.routing.queues.support.conversations"]


def _silence() -> None:
    os.environ["POWERTOOLS_METRICS_DISABLED"] = "true"
    os.environ["POWERTOOLS_TRACE_DISABLED"] = "true"
    import logging

    logging.basicConfig(level=logging.CRITICAL, force=True)


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# ---------------------------------------------------------------------------------------------- 1. store


def bench_store(events: int) -> dict[str, Any]:
    import uuid

    import boto3

    from emulator import EmulatorConfig, EmulatorServer
    from genesys.records import Received, event_item
    from local_stack.aws import local_aws
    from tests.support.bridge import fast_bridge as build_bridge

    with local_aws(), EmulatorServer(EmulatorConfig(event_rate=0, token_lifetime=600, heartbeat_interval=5)) as emu:
        bridge = build_bridge(
            emu, TOPICS, write_concurrency=WRITE_CONCURRENCY, token_rotation_lead=60, min_token_life=120
        )
        client = boto3.client("dynamodb", config=__import__("stream_worker.aws", fromlist=["AWS_CONFIG"]).AWS_CONFIG)
        items = []
        for _ in range(events):
            envelope = {
                "topicName": TOPICS[0],
                "eventBody": {"id": str(uuid.uuid4())},
                "metadata": {"CorrelationId": str(uuid.uuid4())},
            }
            items.append(event_item(Received.of(json.dumps(envelope), envelope, "raw", "raw:0", "raw", time.time()))[0])

        def put(item: dict[str, Any]) -> None:
            client.put_item(
                TableName=bridge.names.events_table,
                Item=item,
                ConditionExpression="attribute_not_exists(#pk)",
                ExpressionAttributeNames={"#pk": "pk"},
            )

        started = time.perf_counter()
        with ThreadPoolExecutor(WRITE_CONCURRENCY) as pool:
            list(pool.map(put, items))
        raw_rate = events / (time.perf_counter() - started)

        async def worker_run() -> float:
            await bridge.start()
            await asyncio.sleep(0.5)
            begin = time.perf_counter()
            emu.fault("burst", count=events)
            while bridge.worker.metrics.totals["EventsStored"] < events:
                await asyncio.sleep(0.01)
            elapsed = time.perf_counter() - begin
            await bridge.stop()
            return events / elapsed

        worker_rate = asyncio.run(worker_run())
    return {"raw_puts_per_s": raw_rate, "worker_stored_per_s": worker_rate, "ratio": worker_rate / raw_rate}


# ---------------------------------------------------------------------------------------------- 2. pipeline


def _start_emulator() -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "emulator",
            "--port",
            "0",
            "--event-rate",
            "0",
            "--heartbeat-interval",
            "5",
            "--rate-limit",
            "100000",
        ],
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    return process, process.stderr.readline().rsplit(" ", 1)[-1].strip()


def pipeline_child(variant: str, events: int) -> dict[str, Any]:
    """Runs in its own process so that CPU time and peak RSS belong to one variant only."""
    import httpx
    import websockets

    from genesys.frames import FrameKind, classify

    emulator, base = _start_emulator()
    try:
        if variant == "raw":
            http = httpx.Client()
            token = http.post(
                f"{base}/oauth/token",
                data={"grant_type": "client_credentials"},
                auth=("emulator-client", "emulator-secret"),
            ).json()["access_token"]
            headers = {"Authorization": f"Bearer {token}"}
            channel = http.post(f"{base}/api/v2/notifications/channels", headers=headers).json()
            http.put(
                f"{base}/api/v2/notifications/channels/{channel['id']}/subscriptions",
                headers=headers,
                json=[{"id": t} for t in TOPICS],
            )

            async def receive() -> tuple[float, float]:
                async with websockets.connect(channel["connectUri"], max_size=2**24) as ws:
                    await asyncio.sleep(0.3)
                    cpu, begin = _cpu(), time.perf_counter()
                    await asyncio.to_thread(
                        http.post, f"{base}/_emulator/faults", json={"type": "burst", "count": events}
                    )
                    seen = 0
                    while seen < events:
                        if classify(await ws.recv()).kind is FrameKind.EVENT:
                            seen += 1
                    return time.perf_counter() - begin, _cpu() - cpu

            elapsed, cpu = asyncio.run(receive())
        else:
            from emulator.server import EmulatorServer  # noqa: F401 - keeps the import cost in both variants
            from genesys import event_store as worker_aws
            from local_stack.aws import local_aws
            from tests.support.bridge import fast_bridge as build_bridge

            class NullStore(worker_aws.EventStore):
                def put_new(self, key: str, item: dict[str, Any], overflow: bytes | None) -> worker_aws.WriteOutcome:
                    return worker_aws.Stored()

            control = httpx.Client()  # made before the measured window, as in the raw variant

            class RemoteEmulator:
                base_url = base

                def fault(self, kind: str, **params: Any) -> dict[str, Any]:
                    return control.post(f"{base}/_emulator/faults", json={"type": kind, **params}).json()

            with local_aws():
                bridge = build_bridge(
                    cast(Any, RemoteEmulator()),  # only base_url and fault() are used
                    TOPICS,
                    sockets_per_shard=1,
                    write_concurrency=WRITE_CONCURRENCY,
                    token_rotation_lead=60,
                    min_token_life=120,
                )
                bridge.worker.writer._store = NullStore(None, None, "", "")

                async def run() -> tuple[float, float]:
                    await bridge.start()
                    await asyncio.sleep(0.3)
                    cpu, begin = _cpu(), time.perf_counter()
                    bridge.fault("burst", count=events)
                    while bridge.worker.metrics.totals["EventsStored"] < events:
                        await asyncio.sleep(0.005)
                    result = time.perf_counter() - begin, _cpu() - cpu
                    await bridge.stop()
                    return result

                elapsed, cpu = asyncio.run(run())
    finally:
        emulator.terminate()
        emulator.wait(10)
    return {"events_per_s": events / elapsed, "cpu_us_per_event": cpu / events * 1e6, "peak_rss_mb": _peak_rss_mb()}


def _peak_rss_mb() -> float:
    """VmHWM of this process image (ru_maxrss would carry the parent's peak across exec)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def bench_pipeline(events: int) -> dict[str, Any]:
    results = {}
    for variant in ("raw", "worker"):
        out = subprocess.run(
            [sys.executable, "-m", "tests.bench", "--child", variant, "--events", str(events)],
            capture_output=True,
            text=True,
            check=True,
            timeout=600,
        )
        results[variant] = json.loads(out.stdout.strip().splitlines()[-1])
    return results


# ---------------------------------------------------------------------------------------------- 3. vend


def bench_vend(requests: int) -> dict[str, Any]:
    import boto3
    from aws_lambda_powertools.utilities.parameters import SecretsProvider

    from functions.orgs import OrgConfig
    from functions.vend_token import handler as vend_handler
    from functions.vend_token.vending import TokenVendor
    from genesys.token_secret import TokenSecret
    from local_stack.aws import local_aws
    from tests.conftest import FakeLambdaContext
    from tests.integration.test_vend_token import http_event

    with local_aws():
        sm = boto3.client("secretsmanager")
        now = time.time()
        sm.create_secret(
            Name="acme/token",
            SecretString=TokenSecret("t", "bearer", now + 3000, now - 600, "acme", "mypurecloud.ie", "c").to_json(),
        )
        org = {"name": "acme", "environment": "mypurecloud.ie", "credentials_secret": "c", "token_secret": "acme/token"}
        os.environ["ORGS"] = json.dumps([org])
        os.environ["ACCESS_POLICY"] = json.dumps({"rules": [{"orgs": ["acme"], "scopes": ["genesys/token"]}]})
        event = http_event("GET", "/orgs/acme/token", {"sub": "svc"}, scopes=["genesys/token"])
        context = FakeLambdaContext()
        assert vend_handler.handler(event, context)["statusCode"] == 200
        calls: list[int] = []
        vend_handler.runtime().secrets_client.meta.events.register(
            "before-call.secrets-manager.GetSecretValue", lambda **_: calls.append(1)
        )
        begin = time.perf_counter()
        for _ in range(requests):
            vend_handler.handler(event, context)
        warm_rate = requests / (time.perf_counter() - begin)
        warm_calls = len(calls) * 1000 / requests

        # baseline: the same vendor logic reading Secrets Manager on every request
        client = boto3.client("secretsmanager")
        uncached_calls: list[int] = []
        client.meta.events.register("before-call.secrets-manager.GetSecretValue", lambda **_: uncached_calls.append(1))
        uncached = TokenVendor(
            {"acme": OrgConfig.model_validate(org)},
            SecretsProvider(boto3_client=client),
            min_remaining=300,
            max_age=0,
            saml_grant=cast(Any, None),  # not used by vend()
        )
        baseline_requests = max(100, requests // 10)
        begin = time.perf_counter()
        for _ in range(baseline_requests):
            uncached.vend("acme")
        baseline_rate = baseline_requests / (time.perf_counter() - begin)
    return {
        "warm_requests_per_s": warm_rate,
        "sm_calls_per_1000_warm": warm_calls,
        "uncached_requests_per_s": baseline_rate,
        "sm_calls_per_1000_uncached": len(uncached_calls) * 1000 / baseline_requests,
        "ratio": warm_rate / baseline_rate,
    }


# ---------------------------------------------------------------------------------------------- 4. loss


def bench_loss(seconds: float) -> dict[str, Any]:
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--child", choices=("raw", "worker"))
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--store-events", type=int, default=2000)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--loss-seconds", type=float, default=16)
    args = parser.parse_args()
    _silence()
    if args.child:
        print(json.dumps(pipeline_child(args.child, args.events)))
        return 0
    store = bench_store(args.store_events)
    pipeline = bench_pipeline(args.events)
    vend = bench_vend(args.requests)
    loss = bench_loss(args.loss_seconds)
    raw, worker = pipeline["raw"], pipeline["worker"]
    rows = [
        (
            "1. stored events/s, worker end to end vs raw conditional puts (16 writers)",
            f"{store['worker_stored_per_s']:.0f} vs {store['raw_puts_per_s']:.0f}",
            f"{store['ratio']:.2f}",
        ),
        (
            "2. pipeline events/s without the store vs bare websockets receive",
            f"{worker['events_per_s']:.0f} vs {raw['events_per_s']:.0f}",
            f"{worker['events_per_s'] / raw['events_per_s']:.2f}",
        ),
        (
            "   CPU us/event, worker vs bare receive",
            f"{worker['cpu_us_per_event']:.1f} vs {raw['cpu_us_per_event']:.1f}",
            f"{worker['cpu_us_per_event'] / raw['cpu_us_per_event']:.2f}",
        ),
        (
            "   peak RSS MB, worker vs bare receive",
            f"{worker['peak_rss_mb']:.0f} vs {raw['peak_rss_mb']:.0f}",
            f"{worker['peak_rss_mb'] / raw['peak_rss_mb']:.2f}",
        ),
        (
            "3. warm vend requests/s vs reading the secret per request",
            f"{vend['warm_requests_per_s']:.0f} vs {vend['uncached_requests_per_s']:.0f}",
            f"{vend['ratio']:.1f}",
        ),
        (
            "   Secrets Manager calls per 1,000 requests, warm vs per request",
            f"{vend['sm_calls_per_1000_warm']:.0f} vs {vend['sm_calls_per_1000_uncached']:.0f}",
            "",
        ),
        (
            f"4. events lost in {args.loss_seconds:.0f} s, {loss['faults']} closes + 8 s tokens: naive vs worker",
            f"{loss['naive_lost']}/{loss['naive_published']} vs {loss['worker_lost']}/{loss['worker_published']}",
            "",
        ),
    ]
    print("\n| measure | figures | ratio |\n|---|---|---|")
    for measure, figures, ratio in rows:
        print(f"| {measure} | {figures} | {ratio} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
