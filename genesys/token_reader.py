"""Reads an org's cached Genesys token from its token secret: cached in memory, re-read early near expiry."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from typing import Any, Protocol

from genesys.errors import GenesysError
from genesys.token_secret import TokenSecret, TokenSecretError


class TokenUnavailableError(GenesysError):
    """No token with enough life left. ``retry_after`` suggests when the minter will have written one."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class SecretSource(Protocol):
    """Powertools' SecretsProvider satisfies this: ``get(name, max_age=..., force_fetch=..., **sdk_options)``."""

    def get(
        self, name: str, max_age: int | None = ..., transform: Any = ..., force_fetch: bool = ..., **sdk_options: Any
    ) -> Any: ...


class TokenReader:
    """The current token for one org.

    A warm caller is served from memory for ``max_age`` seconds. When the cached token has less than
    ``min_remaining + early_reread`` left, the secret is re-read (at most once per ``reread_interval``),
    so a token the minter has already replaced is picked up before it is needed.
    """

    def __init__(
        self,
        source: SecretSource,
        secret_name: str,
        *,
        max_age: int = 300,
        early_reread: float = 120.0,
        reread_interval: float = 5.0,
        unavailable_retry_after: float = 30.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._source = source
        self._name = secret_name
        self._max_age = max_age
        self._early = early_reread
        self._interval = reread_interval
        self._retry_after = unavailable_retry_after
        self._clock = clock
        self._last_forced = float("-inf")
        self._last_fresh = float("-inf")
        self._parsed: dict[str, tuple[str, TokenSecret]] = {}
        self._rejected: set[str] = set()

    def current(self, min_remaining: float) -> TokenSecret:
        now = self._clock()
        secret = self._read(force=False)
        if (secret is None or secret.remaining(now) < min_remaining + self._early) and (
            now - self._last_forced >= self._interval
        ):
            self._last_forced = now
            secret = self._read(force=True)
        if secret is None:
            raise TokenUnavailableError(f"token secret {self._name} holds no token yet", self._retry_after)
        remaining = secret.remaining(now)
        if remaining < min_remaining:
            raise TokenUnavailableError(
                f"token in {self._name} has {max(remaining, 0):.0f} s left, needs {min_remaining:.0f} s",
                self._retry_after,
            )
        return secret

    def alternatives(self, min_remaining: float) -> list[TokenSecret]:
        """The current token, then AWSPREVIOUS when it still has ``min_remaining`` left.

        Two sockets on two different tokens never die together when one token is revoked or expires early.
        Both stages are read fresh (a new channel is rare and should get the newest token); if Secrets Manager
        cannot be read, the cached current token still serves.
        """
        try:
            current = self._read(force=True)
        except TokenUnavailableError:
            current = None
        if current is None or current.remaining(self._clock()) < min_remaining:
            current = self.current(min_remaining)  # the cached token, or the clear error
        try:
            previous = self._read(force=True, stage="AWSPREVIOUS")
        except TokenUnavailableError:  # no previous version yet
            return [current]
        usable = (
            previous is not None
            and previous.access_token != current.access_token
            and previous.access_token not in self._rejected
            and previous.remaining(self._clock()) >= min_remaining
        )
        return [current, previous] if usable and previous is not None else [current]

    def held(self, min_remaining: float) -> list[TokenSecret]:
        """The tokens already in memory with ``min_remaining`` left and never refused, current first: no I/O."""
        now = self._clock()
        found = [self._parsed[stage][1] for stage in ("AWSCURRENT", "AWSPREVIOUS") if stage in self._parsed]
        usable = [t for t in found if t.access_token not in self._rejected and t.remaining(now) >= min_remaining]
        return list({t.access_token: t for t in usable}.values())

    def keep_fresh(self, min_remaining: float, *, force_every: float) -> None:
        """Refresh what ``held`` serves, off the critical path: current (read at least every ``force_every`` seconds,
        and early near expiry), and the previous stage whenever the current token changed. Failures leave the
        tokens in memory as they are."""
        before = self._parsed.get("AWSCURRENT")
        now = self._clock()
        try:
            if now - self._last_fresh >= force_every:
                self._last_fresh = now
                self._read(force=True)
            current = self.current(min_remaining)
        except TokenUnavailableError:
            return
        if before is None or before[1].access_token != current.access_token or "AWSPREVIOUS" not in self._parsed:
            with contextlib.suppress(TokenUnavailableError):  # no previous version yet
                self._read(force=True, stage="AWSPREVIOUS")

    def reject(self, token: TokenSecret) -> None:
        """Genesys refused this token (revoked, or expired early): never offer it again."""
        self._rejected.add(token.access_token)

    def refresh(self) -> TokenSecret | None:
        """Forced re-read, e.g. after Genesys rejected the cached token."""
        self._last_forced = self._clock()
        return self._read(force=True)

    def _read(self, *, force: bool, stage: str = "AWSCURRENT") -> TokenSecret | None:
        options = {} if stage == "AWSCURRENT" else {"VersionStage": stage}
        try:
            raw = self._source.get(self._name, max_age=self._max_age, force_fetch=force, **options)
        except Exception as exc:  # Powertools wraps every SDK failure in GetParameterError
            known = self._parsed.get(stage)
            if known is not None:  # a token already in memory is still a token: AWS being down never stops a socket
                return known[1]
            raise TokenUnavailableError(
                f"token secret {self._name} could not be read ({type(exc).__name__})", self._retry_after
            ) from None
        if raw is None:
            return None
        text = raw.decode() if isinstance(raw, bytes) else str(raw)
        cached = self._parsed.get(stage)
        if cached is None or cached[0] != text:
            try:
                cached = self._parsed[stage] = (text, TokenSecret.from_json(text))
            except TokenSecretError as exc:
                raise TokenUnavailableError(f"token secret {self._name} is invalid: {exc}", self._retry_after) from None
        return cached[1]
