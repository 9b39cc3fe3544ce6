"""An in-process bridge for tests: emulator + moto + scheduled minter + stream worker, with verification."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

import boto3
from aws_lambda_powertools.utilities.parameters import SecretsProvider

from emulator.local_stack import MinterLoop, StackNames, create_resources, org_config, worker_env
from emulator.server import EmulatorServer
from functions.mint_token.policy import RefreshPolicy
from genesys.http import new_http_client
from stream_worker.aws import CoverageTable
from stream_worker.ledger import query_uncovered
from stream_worker.queries import EventQueries
from stream_worker.settings import load_settings
from stream_worker.verify import Verification, verify
from stream_worker.worker import Worker

TOPICS = [
    "v2.users.alice.presence",
    "v2.users.bob.routingStatus",
    "v2.routing.queues.support.conversations",
    "v2.detail.events.conversation.c1.acd.start",
]

# Fast lifetimes: tokens live 8 s, the worker rotates 1.5 s (slot 0) or 2.25 s (slot 1) before expiry and needs
# 3.5 s of life in a new channel; the minter refreshes under 4.5 s left, so the secret always has 4 s or more.
WORKER_DEFAULTS: dict[str, Any] = {
    "token_rotation_lead": 1.5,
    "channel_rotation_lead": 1.5,
    "min_token_life": 3.5,
    "ping_after": 1.0,
    "liveness_timeout": 1.0,
    "confirm_timeout": 3.0,
    "ledger_interval": 0.5,
    "metrics_interval": 2.0,
    "drain_timeout": 15.0,
    "write_concurrency": 8,
}
MINTER_POLICY = RefreshPolicy(fraction=0.5, schedule_period=0.5, rotation_lead=3.5, retry_allowance=0.5)


@dataclass
class Bridge:
    emulator: EmulatorServer
    names: StackNames
    minter: MinterLoop
    worker: Worker
    topics: list[str]
    task: asyncio.Task[int] | None = None
    exit_code: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    async def start(self, timeout: float = 15.0) -> Bridge:
        self.task = asyncio.create_task(self.worker.run())
        deadline = time.monotonic() + timeout
        while self.worker.coverage_started_at is None:
            if self.task.done():
                self.task.result()
            assert time.monotonic() < deadline, "worker never confirmed a socket on every shard"
            await asyncio.sleep(0.05)
        return self

    async def stop(self) -> int:
        assert self.task is not None
        self.worker.request_stop()
        self.exit_code = await asyncio.wait_for(self.task, 60)
        self.minter.stop()
        return self.exit_code

    def fault(self, kind: str, **params: Any) -> dict[str, Any]:
        return self.emulator.fault(kind, **params)

    def our_channels(self) -> list[str]:
        return [s.channel_id for sup in self.worker.supervisors for s in sup.sessions if s.live]

    def verification(self) -> Verification:
        start = self.worker.coverage_started_at
        end = self.worker.shutdown_started_at
        assert start is not None and end is not None
        truth = [e.as_json() for e in self.emulator.events()]
        queries = EventQueries(boto3.client("dynamodb"), self.names.events_table)
        stored = [item["pk"] for item in queries.by_window(start - 60, time.time() + 60) if item.get("kind") == "event"]
        return verify(truth, stored, set(self.topics), (start, end))

    def uncovered(self, shard: str = "local:0") -> list[tuple[float, float]]:
        start, end = self.worker.coverage_started_at, self.worker.shutdown_started_at
        assert start is not None and end is not None
        return query_uncovered(CoverageTable(boto3.client("dynamodb"), self.names.coverage_table), shard, start, end)


def build_bridge(emulator: EmulatorServer, topics: list[str] | None = None, **worker_overrides: Any) -> Bridge:
    names = StackNames()
    create_resources(names)
    topics = topics or TOPICS
    minter = MinterLoop(org_config(names, emulator.base_url), MINTER_POLICY, MINTER_POLICY.schedule_period).start()
    settings_env = worker_env(names, emulator.base_url, topics, **{**WORKER_DEFAULTS, **worker_overrides})
    settings = load_settings(settings_env)
    secrets = SecretsProvider(boto3_client=boto3.client("secretsmanager"))
    worker = Worker(
        settings,
        secrets=secrets,
        dynamodb=boto3.client("dynamodb"),
        s3=boto3.client("s3"),
        http=new_http_client(),
    )
    return Bridge(emulator, names, minter, worker, topics)
