"""`make demo` and `make soak`: the whole bridge on one machine, faults injected, verified against ground truth.

Genesys is the emulator, AWS is moto's server; the minter runs on its schedule, the stream worker keeps its
overlapping sockets, and at the end every event the emulator published while the worker was covering is looked
up in the events table. The last line is ``verified: published=N stored=N lost=0 duplicates_absorbed=M ...``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import random
import signal
import sys
import time
from collections import Counter
from pathlib import Path

from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

from emulator.config import EmulatorConfig
from emulator.faults import chaos_menu, needs_channel
from emulator.server import EmulatorServer
from functions.mint_token.policy import RefreshPolicy
from local_stack.aws import local_aws
from local_stack.bridge import LocalBridge, build_bridge

TOPICS = [
    "v2.users.alice.presence",
    "v2.users.alice.routingStatus",
    "v2.users.bob.presence",
    "v2.routing.queues.support.conversations",
    "v2.routing.queues.sales.calls",
    "v2.detail.events.conversation.c-100.acd.start",
    "v2.analytics.queues.support.observations",
    "v2.audits.entitytype.user.entityid.alice",
]
# 60 s tokens and 90 s channels: rotations every half minute or so. The worker rotates 10 s (slot 0) and 15 s
# (slot 1) before expiry and needs 20 s of token life; the minter runs every 5 s and refreshes under 30 s left.
TOKEN_LIFETIME, CHANNEL_LIFETIME = 60, 90
POLICY = RefreshPolicy(fraction=0.5, schedule_period=5, rotation_lead=20, retry_allowance=2)
WORKER = {
    "token_rotation_lead": 10,
    "channel_rotation_lead": 10,
    "min_token_life": 20,
    "ping_after": 3,
    "liveness_timeout": 2,
    "confirm_timeout": 5,
    "ledger_interval": 2,
    "metrics_interval": 3600,
    "drain_timeout": 60,
}
FAULTS = chaos_menu(pause=12, stall=20)


def configure_logs(directory: Path) -> Path:
    directory.mkdir(exist_ok=True)
    path = directory / "worker.log"
    handler = logging.FileHandler(path, mode="w")
    handler.setFormatter(LambdaPowertoolsFormatter(service="stream-worker"))
    logging.basicConfig(level=logging.INFO, handlers=[handler], force=True)
    os.environ["POWERTOOLS_METRICS_DISABLED"] = "true"  # the demo prints its own progress
    return path


class Demo:
    def __init__(self, bridge: LocalBridge, seed: int, fault_every: tuple[float, float]) -> None:
        self.bridge = bridge
        self.rng = random.Random(seed)
        self.fault_every = fault_every
        self.faults: Counter[str] = Counter()
        self.stop = asyncio.Event()
        self.started = time.monotonic()

    def progress(self, last_fault: str) -> str:
        worker = self.bridge.worker
        totals = worker.metrics.totals
        topics = set(self.bridge.topics)
        published = sum(1 for e in self.bridge.emulator.events() if e.topic in topics)
        live = sum(worker.live_sockets().values())
        wanted = len(worker.shards) * worker.settings.sockets_per_shard
        minted = sum(1 for r in self.bridge.minter.results if r.outcome == "minted")
        return (
            f"[{time.monotonic() - self.started:5.0f}s] published={published} stored={totals['EventsStored']} "
            f"duplicates_absorbed={totals['DuplicatesAbsorbed']} live_sockets={live}/{wanted} "
            f"rotations={sum(worker.metrics.rotation_totals.values())} tokens_minted={minted} "
            f"faults={sum(self.faults.values())} {last_fault}"
        )

    async def inject(self) -> str:
        spec = dict(self.rng.choice(FAULTS))
        kind = spec.pop("type")
        if needs_channel({"type": kind}):
            live = self.bridge.our_channels()
            if not live:
                return ""
            spec["channel"] = self.rng.choice(live)
        self.bridge.fault(kind, **spec)
        self.faults[kind] += 1
        return f"<- {kind}"

    async def run(self, duration: float) -> None:
        next_fault = time.monotonic() + self.rng.uniform(*self.fault_every)
        next_print, last = 0.0, ""
        deadline = self.started + duration
        while not self.stop.is_set() and time.monotonic() < deadline:
            now = time.monotonic()
            if now >= next_fault:
                last = await self.inject() or last
                next_fault = now + self.rng.uniform(*self.fault_every)
            if now >= next_print:
                print(self.progress(last), flush=True)
                next_print, last = now + 2.0, ""
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop.wait(), 0.1)


async def run(args: argparse.Namespace, emulator: EmulatorServer) -> int:
    bridge = build_bridge(emulator, TOPICS, POLICY, **WORKER, health_file=str(args.workdir / "health.json"))
    print(f"starting the stream worker ({len(TOPICS)} topics, 2 sockets per shard) ...", flush=True)
    await bridge.start(within=30)
    # one fault at a time: a stalled socket, the slowest to notice, is dead and replaced within ~6 s
    demo = Demo(bridge, args.seed, (6.0, 9.0) if args.soak else (8.0, 14.0))
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGINT, demo.stop.set)
    loop.add_signal_handler(signal.SIGTERM, demo.stop.set)
    await demo.run(args.duration)
    print("stopping: no new sockets, draining writes ...", flush=True)
    code = await bridge.stop()
    result = bridge.verification()
    rotations = dict(bridge.worker.metrics.rotation_totals)
    gaps = bridge.uncovered()
    print(f"rotations by reason: {rotations or 'none'}")
    print(f"faults injected: {dict(demo.faults) or 'none'}")
    print(f"uncovered seconds: {sum(b - a for a, b in gaps):.3f} in {len(gaps)} interval(s)")
    for event in result.lost_events[:5]:
        print(f"  lost: seq={event['seq']} topic={event['topic']} published_at={event['published_at']:.3f}")
    print(
        f"verified: published={result.published} stored={result.stored} lost={result.lost} "
        f"duplicates_absorbed={bridge.worker.metrics.totals['DuplicatesAbsorbed']} "
        f"rotations={sum(rotations.values())} faults={sum(demo.faults.values())}",
        flush=True,
    )
    return 0 if result.ok and code == 0 else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run the whole bridge locally with faults and verify it.")
    parser.add_argument("--duration", type=float, default=120)
    parser.add_argument("--seed", type=int, default=None, help="fault and event seed (random when omitted)")
    parser.add_argument("--soak", action="store_true", help="faults every 6-9 s instead of every 8-14 s")
    parser.add_argument("--event-rate", type=float, default=20)
    parser.add_argument("--workdir", type=Path, default=Path(".demo"))
    args = parser.parse_args(argv)
    if args.seed is None:
        args.seed = random.randrange(1_000_000)
    log = configure_logs(args.workdir)
    print(f"seed={args.seed} duration={args.duration:.0f}s worker log: {log}", flush=True)
    config = EmulatorConfig(
        token_lifetime=TOKEN_LIFETIME,
        channel_lifetime=CHANNEL_LIFETIME,
        heartbeat_interval=2,
        socket_closing_grace=20,
        event_rate=args.event_rate,
        seed=args.seed,
    )
    with local_aws(), EmulatorServer(config) as emulator:
        print(f"Genesys emulator on {emulator.base_url}; AWS (moto) on {os.environ['AWS_ENDPOINT_URL']}", flush=True)
        return asyncio.run(run(args, emulator))


if __name__ == "__main__":
    sys.exit(main())
