"""The in-process bridge: emulator + moto + scheduled minter + a stream worker, verified against ground truth."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

from emulator.server import EmulatorServer
from evidence.queries import EventQueries
from functions.mint_token.policy import RefreshPolicy
from genesys.http import new_http_client
from local_stack.minter_loop import MinterLoop
from local_stack.resources import StackNames, create_resources, org_config, worker_env
from local_stack.waiting import eventually
from stream_worker.aws import CoverageTable, dynamodb_client, s3_client, secrets_provider
from stream_worker.ledger import query_uncovered
from stream_worker.settings import load_settings
from stream_worker.verify import Verification, verify
from stream_worker.worker import Worker


@dataclass
class LocalBridge:
    """Emulator + moto + scheduled minter + an in-process stream worker, with verification against ground truth."""

    emulator: EmulatorServer
    names: StackNames
    minter: MinterLoop
    worker: Worker
    topics: list[str]
    task: asyncio.Task[int] | None = None
    exit_code: int | None = None

    async def start(self, within: float = 15.0) -> LocalBridge:
        """Run the worker and return once every shard has all its sockets (a fault before then could hit the only one)."""
        task = self.task = asyncio.create_task(self.worker.run())
        wanted = self.worker.settings.sockets_per_shard

        def crashed() -> None:
            if task.done():
                task.result()

        await eventually(
            lambda: self.worker.coverage_started_at is not None and min(self.worker.live_sockets().values()) >= wanted,
            within,
            "every shard has all its sockets confirmed",
            unless=crashed,
        )
        # and every socket has answered a ping sent after the last one was confirmed: the ledger can prove the overlap
        sessions = [s for sup in self.worker.supervisors for s in sup.sessions if s.live]
        last = max(s.confirmed_at or 0.0 for s in sessions)
        await eventually(lambda: all(s.proven_until > last for s in sessions), within, "a pong on every socket")
        return self

    async def stop(self) -> int:
        assert self.task is not None
        self.worker.request_stop()
        self.exit_code = await asyncio.wait_for(self.task, self.worker.settings.drain_timeout + 30)
        self.minter.stop()
        return self.exit_code

    def fault(self, kind: str, **params: Any) -> dict[str, Any]:
        return self.emulator.fault(kind, **params)

    def our_channels(self) -> list[str]:
        return [s.channel_id for sup in self.worker.supervisors for s in sup.sessions if s.live]

    def window(self) -> tuple[float, float]:
        start, end = self.worker.coverage_started_at, self.worker.shutdown_started_at
        if start is None or end is None:
            raise RuntimeError("the worker has not both started and stopped")
        return start, end

    def verification(self, *, gaps_reported: bool = False) -> Verification:
        """Ground truth against the table; ``gaps_reported``: an event missing inside a gap the ledger reports
        (any shard) is counted as in a gap, not lost."""
        start, end = self.window()
        truth = [e.as_json() for e in self.emulator.events()]
        queries = EventQueries(dynamodb_client(), self.names.events_table)
        stored = [i["pk"] for i in queries.by_window(start - 60, time.time() + 60) if i.get("kind") == "event"]
        gaps = [g for shard in self.worker.shards for g in self.uncovered(shard.id)] if gaps_reported else []
        return verify(truth, stored, set(self.topics), (start, end), gaps)

    def uncovered(self, shard: str | None = None) -> list[tuple[float, float]]:
        start, end = self.window()
        table = CoverageTable(dynamodb_client(), self.names.coverage_table)
        return query_uncovered(table, shard or self.worker.shards[0].id, start, end)


def build_bridge(
    emulator: EmulatorServer, topics: list[str], policy: RefreshPolicy, **worker_settings: Any
) -> LocalBridge:
    """Create the resources, start the minter on its schedule and build (not start) the worker."""
    names = StackNames()
    create_resources(names)
    minter = MinterLoop(org_config(names, emulator.base_url), policy, policy.schedule_period).start()
    settings = load_settings(worker_env(names, emulator.base_url, topics, **worker_settings))
    worker = Worker(
        settings,
        secrets=secrets_provider(),
        dynamodb=dynamodb_client(),
        s3=s3_client(),
        http=new_http_client(),
    )
    return LocalBridge(emulator, names, minter, worker, topics)
