"""Mint one org's token when the policy says so, and write it to the token secret exactly once per slot."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from functions.mint_token.policy import RefreshPolicy
from functions.orgs import OrgConfig
from functions.secrets_store import SecretsStore
from genesys.backoff import Backoff
from genesys.errors import TRANSIENT_ERRORS, BadCredentialsError, GenesysError
from genesys.oauth import AccessToken, ClientCredentials
from genesys.token_secret import TokenSecret, TokenSecretError

_SLOT_NAMESPACE = uuid.UUID("8d1f2c5e-2b8a-4c61-9d0f-6e3a7b9c1d42")
MAX_ATTEMPTS = 5


@dataclass(frozen=True, slots=True)
class OrgResult:
    org: str
    outcome: str  # minted | fresh | concurrent | failed
    remaining: float  # seconds left on the token the secret now holds (0 when none)
    detail: str = ""

    @property
    def failed(self) -> bool:
        return self.outcome == "failed"


def request_token(org: str, slot: str) -> str:
    """Secrets Manager ClientRequestToken: the same org and schedule slot always give the same version id."""
    return str(uuid.uuid5(_SLOT_NAMESPACE, f"{org}/{slot}"))


def schedule_slot(scheduled_time: float, period: float) -> str:
    return str(int(scheduled_time // period))


class MintFailedError(Exception):
    pass


class Minter:
    def __init__(
        self,
        store: SecretsStore,
        grant: Callable[[OrgConfig, ClientCredentials], AccessToken],
        policy: RefreshPolicy,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        backoff: Callable[[], Backoff] = Backoff,
    ) -> None:
        self._store = store
        self._grant = grant
        self._policy = policy
        self._clock = clock
        self._sleep = sleep
        self._backoff = backoff

    def run(self, org: OrgConfig, *, slot: str, force: bool, deadline: float) -> OrgResult:
        cached = self._cached(org)
        now = self._clock()
        decision = self._policy.decide(cached, now, force=force)
        kept = max(cached.remaining(now), 0.0) if cached else 0.0
        if not decision.mint:
            return OrgResult(org.name, "fresh", kept, decision.reason)
        try:
            credentials = self._credentials(org)
            token = self._mint(org, credentials, deadline)
        except (GenesysError, MintFailedError) as exc:
            # the cached token (if any) stays in place: a failure never replaces a token with nothing
            return OrgResult(org.name, "failed", kept, f"{decision.reason}; {exc}")
        secret = TokenSecret.from_token(
            token, org=org.name, environment=org.environment, client_id=credentials.client_id
        )
        if not self._store.write(org.token_secret, secret.to_json(), request_token(org.name, slot)):
            current = self._cached(org)
            left = max(current.remaining(self._clock()), 0.0) if current else 0.0
            return OrgResult(org.name, "concurrent", left, "another run of this slot already wrote a version")
        return OrgResult(org.name, "minted", secret.remaining(self._clock()), decision.reason)

    def _cached(self, org: OrgConfig) -> TokenSecret | None:
        raw = self._store.read(org.token_secret)
        if raw is None:
            return None
        try:
            return TokenSecret.from_json(raw)
        except TokenSecretError:
            return None  # unreadable: mint over it

    def _credentials(self, org: OrgConfig) -> ClientCredentials:
        return ClientCredentials.from_secret(self._store.read(org.credentials_secret), org.credentials_secret)

    def _mint(self, org: OrgConfig, credentials: ClientCredentials, deadline: float) -> AccessToken:
        backoff = self._backoff()
        for attempt in range(1, MAX_ATTEMPTS + 1):
            try:
                return self._grant(org, credentials)
            except BadCredentialsError:
                raise
            except TRANSIENT_ERRORS as exc:
                delay = backoff.next_delay(exc)
                if attempt == MAX_ATTEMPTS:
                    raise MintFailedError(f"gave up after {attempt} attempts: {exc}") from None
                if self._clock() + delay >= deadline:
                    raise MintFailedError(f"no time left to wait {delay:.1f} s after: {exc}") from None
                self._sleep(delay)
        raise MintFailedError("unreachable")  # pragma: no cover
