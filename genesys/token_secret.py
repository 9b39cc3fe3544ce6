"""The token secret contract shared by the minter, the vend function and the worker."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from genesys.oauth import AccessToken

_FIELDS = ("access_token", "token_type", "expires_at", "issued_at", "org", "environment", "client_id")


class TokenSecretError(ValueError):
    """The secret string is not a valid token secret (the message never contains its value)."""


@dataclass(frozen=True, slots=True)
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
    def from_json(cls, text: str) -> TokenSecret:
        try:
            data: Any = json.loads(text)
        except ValueError:
            raise TokenSecretError("token secret is not valid JSON") from None
        if not isinstance(data, dict):
            raise TokenSecretError("token secret is not a JSON object")
        missing = [f for f in _FIELDS if f not in data]
        if missing:
            raise TokenSecretError(f"token secret lacks fields: {', '.join(missing)}")
        try:
            return cls(
                access_token=str(data["access_token"]),
                token_type=str(data["token_type"]),
                expires_at=float(data["expires_at"]),
                issued_at=float(data["issued_at"]),
                org=str(data["org"]),
                environment=str(data["environment"]),
                client_id=str(data["client_id"]),
            )
        except (TypeError, ValueError):
            raise TokenSecretError("token secret has a field of the wrong type") from None

    def remaining(self, now: float) -> float:
        return self.expires_at - now


def token_secret_name(org: str) -> str:
    """Where the minter writes an org's token: one naming for the CDK app and the local stack."""
    return f"genesys-bridge/{org}/token"


def credentials_secret_name(org: str) -> str:
    return f"genesys-bridge/{org}/client-credentials"


def saml_client_secret_name(org: str) -> str:
    return f"genesys-bridge/{org}/saml-client"
