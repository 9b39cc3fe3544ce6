"""A fleet of real worker processes (``python -m stream_worker``) on the local stack, as ECS runs tasks.

Each worker is one OS process with its own id, health file and log; one can be SIGKILLed (a crash, an OOM, a lost
host), SIGTERMed (a deploy, a scale-in) or added (a replacement). What they stored and what the ledger claims are
read back from moto's DynamoDB, and held against the emulator's ground truth.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from bridge_cli.report import gather, write
from emulator.server import EmulatorServer
from evidence.coverage import FleetCoverage
from evidence.gap_table import GapTable
from evidence.keys import envelope_key
from evidence.queries import EventQueries
from functions.mint_token.policy import RefreshPolicy
from local_stack.minter_loop import MinterLoop
from local_stack.resources import StackNames, create_resources, org_config, worker_env
from local_stack.waiting import eventually_sync
from stream_worker.aws import CoverageTable, dynamodb_client
from stream_worker.ledger import query_coverage
from stream_worker.verify import Verification, verify


@dataclass
class WorkerProcess:
    worker_id: str
    process: subprocess.Popen[str]
    log_path: Path
    log: IO[str]

    def alive(self) -> bool:
        return self.process.poll() is None

    def lines(self) -> list[dict[str, Any]]:
        if not self.log.closed:
            self.log.flush()
        found = []
        for line in self.log_path.read_text().splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict) and "message" in record:
                found.append(record)
        return found


@dataclass
class LocalFleet:
    emulator: EmulatorServer
    topics: list[str]
    policy: RefreshPolicy
    workdir: Path
    settings: dict[str, Any]
    names: StackNames = field(default_factory=StackNames)
    workers: dict[str, WorkerProcess] = field(default_factory=dict)
    minter: MinterLoop | None = None
    _serial: int = 0

    def start(self) -> LocalFleet:
        create_resources(self.names)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.minter = MinterLoop(
            org_config(self.names, self.emulator.base_url), self.policy, self.policy.schedule_period
        )
        self.minter.start()
        return self

    def environment(self, worker_id: str, **overrides: Any) -> dict[str, str]:
        health = str(self.workdir / f"{worker_id}.health")
        settings = {**self.settings, **overrides, "worker_id": worker_id, "health_file": health}
        return {
            **os.environ,
            **worker_env(self.names, self.emulator.base_url, self.topics, **settings),
            "POWERTOOLS_METRICS_DISABLED": "true",
        }

    def add_worker(self, **overrides: Any) -> WorkerProcess:
        self._serial += 1
        worker_id = f"task-{self._serial}"
        log_path = self.workdir / f"{worker_id}.log"
        log = log_path.open("w")
        process = subprocess.Popen(
            [sys.executable, "-m", "stream_worker"],
            env=self.environment(worker_id, **overrides),
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
        )
        worker = self.workers[worker_id] = WorkerProcess(worker_id, process, log_path, log)
        return worker

    def wait_connected(self, worker: WorkerProcess, within: float = 20.0) -> None:
        """Until the worker logs its first confirmed sockets on every slot (and is still running)."""

        def running() -> None:
            if not worker.alive():
                raise RuntimeError(f"{worker.worker_id} exited {worker.process.returncode}: {worker.log_path}")

        wanted = int(self.settings.get("sockets_per_shard", 2))
        eventually_sync(
            lambda: self.confirmed(worker) >= wanted, within, f"{worker.worker_id} has its sockets", unless=running
        )

    def confirmed(self, worker: WorkerProcess) -> int:
        return sum(1 for r in worker.lines() if r["message"] == "socket confirmed")

    def kill(self, worker_id: str) -> None:
        """SIGKILL: no drain, no last ledger write; what it held in memory is gone."""
        worker = self.workers[worker_id]
        worker.process.send_signal(signal.SIGKILL)
        worker.process.wait(10)

    def terminate(self, worker_id: str, within: float = 60.0) -> int:
        worker = self.workers[worker_id]
        worker.process.send_signal(signal.SIGTERM)
        return worker.process.wait(within)

    def stop(self) -> dict[str, int]:
        codes = {w.worker_id: self.terminate(w.worker_id) for w in self.workers.values() if w.alive()}
        if self.minter is not None:
            self.minter.stop()
        for worker in self.workers.values():
            worker.log.close()
        return codes

    def rotations(self) -> Counter[str]:
        return Counter(
            str(r.get("reason")) for w in self.workers.values() for r in w.lines() if r["message"] == "rotating socket"
        )

    # ---------------------------------------------------------------- what was stored, and what the ledger says
    def stored_keys(self, since: float) -> list[str]:
        queries = EventQueries(dynamodb_client(), self.names.events_table)
        return [i["pk"] for i in queries.by_window(since - 60, time.time() + 60) if i.get("kind") == "event"]

    def verification(self, window: tuple[float, float], gaps: list[tuple[float, float]] | None = None) -> Verification:
        """``gaps``: recorded gaps; an event published inside one and not stored is known, not lost."""
        truth = [e.as_json() for e in self.emulator.events()]
        return verify(truth, self.stored_keys(window[0]), set(self.topics), window, gaps or [])

    def sources(self, window: tuple[float, float]) -> Counter[str]:
        """Items of the window's events by the path that stored them first, and the events no socket of ours got."""
        topics = set(self.topics)
        truth = {
            envelope_key(e.envelope): e
            for e in self.emulator.events()
            if e.topic in topics and window[0] <= e.published_at < window[1]
        }
        queries = EventQueries(dynamodb_client(), self.names.events_table)
        found: Counter[str] = Counter()
        for item in queries.by_window(window[0] - 60, time.time() + 60):
            event = truth.get(item["pk"])
            if event is None or item.get("kind") != "event":
                continue
            found[str(item.get("source", "websocket"))] += 1
            found["only_eventbridge"] += not event.channels  # no socket of the fleet received it
        return found

    def report(self, window: tuple[float, float], page: Path, verified: dict[str, int]) -> Path:
        """The audit report of the run (bridge_cli.report), the demo's verification as its ground truth; the
        JSON's path."""
        table = CoverageTable(dynamodb_client(), self.names.coverage_table)
        queries = EventQueries(dynamodb_client(), self.names.events_table)
        shards = table.shards()
        data = gather(
            table,
            queries,
            shards,
            *window,
            title="Genesys notification bridge: the demo's audit report",
            ground_truth=verified,
            records=GapTable(dynamodb_client(), self.names.coverage_table).gaps(*window),
        )
        return write(data, page)

    def coverage(self, window: tuple[float, float], shard: str = "local:0") -> FleetCoverage:
        return query_coverage(CoverageTable(dynamodb_client(), self.names.coverage_table), shard, *window)
