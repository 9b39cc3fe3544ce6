"""Reads an org's cached Genesys token from its token secret: cached in memory, re-read early near expiry."""

from __future__ import annotations

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
    """Powertools' SecretsProvider satisfies this: ``get(name, max_age=..., force_fetch=...)``."""

    def get(self, name: str, max_age: int | None = ..., transform: Any = ..., force_fetch: bool = ...) -> Any: ...


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
        self._parsed: tuple[str, TokenSecret] | None = None

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

    def refresh(self) -> TokenSecret | None:
        """Forced re-read, e.g. after Genesys rejected the cached token."""
        self._last_forced = self._clock()
        return self._read(force=True)

    def _read(self, *, force: bool) -> TokenSecret | None:
        try:
            raw = self._source.get(self._name, max_age=self._max_age, force_fetch=force)
        except Exception as exc:  # Powertools wraps every SDK failure in GetParameterError
            raise TokenUnavailableError(
                f"token secret {self._name} could not be read ({type(exc).__name__})", self._retry_after
            ) from None
        if raw is None:
            return None
        text = raw.decode() if isinstance(raw, bytes) else str(raw)
        if self._parsed is None or self._parsed[0] != text:
            try:
                self._parsed = (text, TokenSecret.from_json(text))
            except TokenSecretError as exc:
                raise TokenUnavailableError(f"token secret {self._name} is invalid: {exc}", self._retry_after) from None
        return self._parsed[1]
