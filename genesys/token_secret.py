"""The token secret contract shared by the minter, the vend function and the worker."""

from __future__ import annotations

import json
from dataclasses import asdict, field

from pydantic import ConfigDict, TypeAdapter, ValidationError
from pydantic.dataclasses import dataclass

from genesys.oauth import AccessToken
from genesys.validation import describe


class TokenSecretError(ValueError):
    """The secret string is not a valid token secret (the message never contains its value)."""


@dataclass(frozen=True, slots=True, config=ConfigDict(extra="ignore"))
class TokenSecret:
    access_token: str = field(repr=False)
    token_type: str
    expires_at: float
    issued_at: float
    org: str
    environment: str
    client_id: str

    @classmethod
    def from_token(cls, token: AccessToken, *, org: str, environment: str, client_id: str) -> TokenSecret:
        return cls(
            access_token=token.access_token,
            token_type=token.token_type,
            expires_at=round(token.expires_at, 3),
            issued_at=round(token.issued_at, 3),
            org=org,
            environment=environment,
            client_id=client_id,
        )

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str | bytes) -> TokenSecret:
        try:
            return _ADAPTER.validate_json(text)
        except ValidationError as exc:  # locations and messages only: inputs are never echoed
            raise TokenSecretError(f"not a token secret: {describe(exc)}") from None

    def remaining(self, now: float) -> float:
        return self.expires_at - now


def token_secret_name(org: str) -> str:
    """Where the minter writes an org's token: one naming for the CDK app and the local stack."""
    return f"genesys-bridge/{org}/token"


def credentials_secret_name(org: str) -> str:
    return f"genesys-bridge/{org}/client-credentials"


def saml_client_secret_name(org: str) -> str:
    return f"genesys-bridge/{org}/saml-client"


_ADAPTER = TypeAdapter(TokenSecret)
