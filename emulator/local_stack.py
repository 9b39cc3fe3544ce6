"""The whole bridge on one machine: AWS resources in moto's server, the minter on a schedule, the emulator.

Used by the tests, `make demo` and the benchmarks. Resources come from the same layouts the CDK app uses.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import httpx
from aws_lambda_powertools.utilities.parameters import SecretsProvider

from emulator.config import DEFAULT_CLIENT
from emulator.server import EmulatorServer
from functions.mint_token.minter import Minter, OrgResult, schedule_slot
from functions.mint_token.policy import RefreshPolicy
from functions.orgs import OrgConfig
from functions.secrets_store import SecretsStore
from genesys.http import new_http_client
from genesys.oauth import AccessToken, ClientCredentials, OAuthClient
from genesys.regions import resolve_hosts
from genesys.token_secret import credentials_secret_name, token_secret_name
from stream_worker.aws import CoverageTable
from stream_worker.ledger import query_uncovered
from stream_worker.queries import EventQueries
from stream_worker.schema import COVERAGE, EVENTS, create_table_kwargs
from stream_worker.settings import load_settings
from stream_worker.verify import Verification, verify
from stream_worker.worker import Worker


@dataclass(frozen=True)
class StackNames:
    events_table: str = "genesys-events"
    coverage_table: str = "genesys-coverage"
    payload_bucket: str = "genesys-event-payloads"
    org: str = "local"

    @property
    def token_secret(self) -> str:
        return token_secret_name(self.org)

    @property
    def credentials_secret(self) -> str:
        return credentials_secret_name(self.org)


def create_resources(
    names: StackNames, client_id: str = DEFAULT_CLIENT[0], client_secret: str = DEFAULT_CLIENT[1]
) -> None:
    """Tables, bucket and secrets in whatever AWS endpoint boto3 is pointed at (AWS_ENDPOINT_URL)."""
    dynamodb = boto3.client("dynamodb")
    for table, layout in ((names.events_table, EVENTS), (names.coverage_table, COVERAGE)):
        dynamodb.create_table(**create_table_kwargs(table, layout))  # type: ignore[arg-type]
    boto3.client("s3").create_bucket(Bucket=names.payload_bucket)
    secrets = boto3.client("secretsmanager")
    secrets.create_secret(
        Name=names.credentials_secret, SecretString=json.dumps({"client_id": client_id, "client_secret": client_secret})
    )
    secrets.create_secret(Name=names.token_secret)


@dataclass
class MinterLoop:
    """Runs the mint function's logic every ``period`` seconds on a thread, as EventBridge Scheduler would."""

    org: OrgConfig
    policy: RefreshPolicy
    period: float
    results: list[OrgResult] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __post_init__(self) -> None:
        http = new_http_client()

        def grant(org: OrgConfig, credentials: ClientCredentials) -> AccessToken:
            return OAuthClient(resolve_hosts(org.environment).login_url, http).client_credentials(credentials)

        self._minter = Minter(SecretsStore(boto3.client("secretsmanager")), grant, self.policy)

    def run_once(self, force: bool = False) -> OrgResult:
        now = time.time()
        slot = f"forced/{now}" if force else schedule_slot(now, self.period)
        result = self._minter.run(self.org, slot=slot, force=force, deadline=now + self.period)
        self.results.append(result)
        return result

    def start(self) -> MinterLoop:
        self.run_once()

        def loop() -> None:
            while not self._stop.wait(self.period):
                try:
                    self.run_once()
                except Exception as exc:  # keep scheduling, as the real scheduler would
                    self.results.append(OrgResult(self.org.name, "failed", 0.0, repr(exc)))

        self._thread = threading.Thread(target=loop, name="minter", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)


def worker_env(names: StackNames, environment: str, topics: list[str], **overrides: Any) -> dict[str, str]:
    """Environment variables for ``python -m stream_worker`` against the local stack."""
    env = {
        "WORKER_ORGS": json.dumps(
            [{"name": names.org, "environment": environment, "token_secret": names.token_secret, "topics": topics}]
        ),
        "EVENTS_TABLE": names.events_table,
        "COVERAGE_TABLE": names.coverage_table,
        "PAYLOAD_BUCKET": names.payload_bucket,
    }
    env.update({k.upper(): str(v) for k, v in overrides.items()})
    return env


def org_config(names: StackNames, environment: str) -> OrgConfig:
    return OrgConfig(
        name=names.org,
        environment=environment,
        credentials_secret=names.credentials_secret,
        token_secret=names.token_secret,
    )


@contextlib.contextmanager
def local_aws() -> Iterator[str]:
    """moto's server on a free loopback port, with boto3 pointed at it through the standard variables."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    httpx.post(f"{endpoint}/moto-api/reset").raise_for_status()  # moto's backends are per process, not per server
    saved = {k: os.environ.get(k) for k in _AWS_ENV}
    os.environ.update(
        AWS_ENDPOINT_URL=endpoint,
        AWS_ACCESS_KEY_ID="local",
        AWS_SECRET_ACCESS_KEY="local",  # noqa: S106 - moto accepts any credentials
        AWS_DEFAULT_REGION="us-east-1",
        AWS_REGION="us-east-1",
    )
    try:
        yield endpoint
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        server.stop()


_AWS_ENV = ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION", "AWS_REGION")


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
        self.task = asyncio.create_task(self.worker.run())
        deadline = time.monotonic() + within
        wanted = self.worker.settings.sockets_per_shard
        while self.worker.coverage_started_at is None or min(self.worker.live_sockets().values()) < wanted:
            if self.task.done():
                self.task.result()
            if time.monotonic() > deadline:
                raise TimeoutError("the worker never had all its sockets confirmed on every shard")
            await asyncio.sleep(0.05)
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

    def verification(self) -> Verification:
        start, end = self.window()
        truth = [e.as_json() for e in self.emulator.events()]
        queries = EventQueries(boto3.client("dynamodb"), self.names.events_table)
        stored = [i["pk"] for i in queries.by_window(start - 60, time.time() + 60) if i.get("kind") == "event"]
        return verify(truth, stored, set(self.topics), (start, end))

    def uncovered(self, shard: str | None = None) -> list[tuple[float, float]]:
        start, end = self.window()
        table = CoverageTable(boto3.client("dynamodb"), self.names.coverage_table)
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
        secrets=SecretsProvider(boto3_client=boto3.client("secretsmanager")),
        dynamodb=boto3.client("dynamodb"),
        s3=boto3.client("s3"),
        http=new_http_client(),
    )
    return LocalBridge(emulator, names, minter, worker, topics)
