"""Vending logic: one TokenReader per org, and the SAML2 bearer exchange."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from functions.orgs import OrgConfig
from genesys.oauth import AccessToken, ClientCredentials
from genesys.token_reader import SecretSource, TokenReader


class UnknownOrgError(LookupError):
    pass


class SamlNotConfiguredError(LookupError):
    pass


@dataclass(frozen=True, slots=True)
class Vended:
    access_token: str
    token_type: str
    expires_in: int

    def body(self) -> dict[str, Any]:
        return {"access_token": self.access_token, "token_type": self.token_type, "expires_in": self.expires_in}


SamlGrant = Callable[[OrgConfig, ClientCredentials, str], AccessToken]


class TokenVendor:
    def __init__(
        self,
        orgs: dict[str, OrgConfig],
        source: SecretSource,
        *,
        min_remaining: float,
        max_age: int,
        saml_grant: SamlGrant,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._orgs = orgs
        self._source = source
        self._min_remaining = min_remaining
        self._saml_grant = saml_grant
        self._clock = clock
        self._readers = {
            name: TokenReader(source, org.token_secret, max_age=max_age, clock=clock) for name, org in orgs.items()
        }
        self._max_age = max_age

    def org(self, name: str) -> OrgConfig:
        if name not in self._orgs:
            raise UnknownOrgError(name)
        return self._orgs[name]

    def vend(self, org: str) -> Vended:
        self.org(org)
        secret = self._readers[org].current(self._min_remaining)
        return Vended(secret.access_token, secret.token_type, int(secret.remaining(self._clock())))

    def exchange_saml(self, org: str, assertion: str) -> Vended:
        config = self.org(org)
        if config.saml is None:
            raise SamlNotConfiguredError(org)
        raw = self._source.get(config.saml.credentials_secret, max_age=self._max_age)
        credentials = ClientCredentials.from_secret(raw, config.saml.credentials_secret)
        token = self._saml_grant(config, credentials, assertion)
        return Vended(token.access_token, token.token_type, int(token.remaining(self._clock())))
