"""The mint function's logic on a thread every ``period`` seconds, as EventBridge Scheduler would invoke it."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import boto3

from functions.mint_token.minter import Minter, OrgResult, schedule_slot
from functions.mint_token.policy import RefreshPolicy
from functions.orgs import OrgConfig
from functions.secrets_store import SecretsStore
from genesys.http import new_http_client
from genesys.oauth import AccessToken, ClientCredentials, OAuthClient
from genesys.observability import quiet_sdk_loggers
from genesys.regions import resolve_hosts


@dataclass
class MinterLoop:
    org: OrgConfig
    policy: RefreshPolicy
    period: float
    results: list[OrgResult] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __post_init__(self) -> None:
        quiet_sdk_loggers()  # as the Lambda handler does at import: botocore at DEBUG would log the token it writes
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
