"""The whole bridge on one machine: AWS resources in moto's server, the minter on a schedule, the emulator.

Used by the tests, `make demo` and the benchmarks. Resources come from the same layouts the CDK app uses.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import boto3

from emulator.config import DEFAULT_CLIENT
from functions.mint_token.minter import Minter, OrgResult, schedule_slot
from functions.mint_token.policy import RefreshPolicy
from functions.orgs import OrgConfig
from functions.secrets_store import SecretsStore
from genesys.http import new_http_client
from genesys.oauth import AccessToken, ClientCredentials, OAuthClient
from genesys.regions import resolve_hosts
from stream_worker.schema import COVERAGE, EVENTS, create_table_kwargs


@dataclass(frozen=True)
class StackNames:
    events_table: str = "genesys-events"
    coverage_table: str = "genesys-coverage"
    payload_bucket: str = "genesys-event-payloads"
    org: str = "local"

    @property
    def token_secret(self) -> str:
        return f"genesys-bridge/{self.org}/token"

    @property
    def credentials_secret(self) -> str:
        return f"genesys-bridge/{self.org}/client-credentials"


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

    def run_once(self) -> OrgResult:
        now = time.time()
        result = self._minter.run(
            self.org, slot=schedule_slot(now, self.period), force=False, deadline=now + self.period
        )
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
