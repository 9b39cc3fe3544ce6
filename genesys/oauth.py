"""OAuth against Genesys' login host: client credentials and the SAML2 bearer grant."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

from genesys.errors import GenesysError
from genesys.http import raise_for_status, transport_errors

SAML2_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:saml2-bearer"
CREDENTIALS_PLACEHOLDER = "REPLACE_WITH_CLIENT_ID"  # what the CDK app puts in a credentials secret it creates


class CredentialsSecretError(GenesysError):
    """A credentials secret is empty, not JSON with client_id and client_secret, or still the placeholder."""


@dataclass(frozen=True, slots=True)
class AccessToken:
    """A bearer token with absolute expiry (epoch seconds, UTC). Its repr never shows the token."""

    access_token: str = field(repr=False)
    token_type: str
    issued_at: float
    expires_at: float

    def remaining(self, now: float | None = None) -> float:
        return self.expires_at - (time.time() if now is None else now)

    @property
    def lifetime(self) -> float:
        return self.expires_at - self.issued_at


@dataclass(frozen=True, slots=True)
class ClientCredentials:
    client_id: str
    client_secret: str = field(repr=False)

    @classmethod
    def from_secret(cls, raw: str | bytes | None, secret_name: str) -> ClientCredentials:
        """A credentials secret's JSON ``{"client_id", "client_secret"}``; errors name the secret, never its value."""
        if raw is None:
            raise CredentialsSecretError(f"credentials secret {secret_name} has no value")
        try:
            data = json.loads(raw)
            credentials = cls(str(data["client_id"]), str(data["client_secret"]))
        except (ValueError, KeyError, TypeError):
            raise CredentialsSecretError(
                f"credentials secret {secret_name} must be JSON with client_id and client_secret"
            ) from None
        if credentials.client_id == CREDENTIALS_PLACEHOLDER:
            raise CredentialsSecretError(
                f"credentials secret {secret_name} still holds the deployment placeholder: "
                "put the Genesys OAuth client_id and client_secret in it"
            )
        return credentials


class OAuthClient:
    """Mints tokens at ``{login_url}/oauth/token``. Errors are typed and carry no secret."""

    def __init__(self, login_url: str, http: httpx.Client, clock: Callable[[], float] = time.time) -> None:
        self._token_url = f"{login_url.rstrip('/')}/oauth/token"
        self._http = http
        self._clock = clock

    def client_credentials(self, credentials: ClientCredentials) -> AccessToken:
        return self._grant(credentials, {"grant_type": "client_credentials"}, "client credentials grant")

    def saml2_bearer(self, credentials: ClientCredentials, *, org_name: str, assertion: str) -> AccessToken:
        """Exchange a base64 SAML assertion for a user-scoped token (needs a SAML2BEARER client)."""
        form = {"grant_type": SAML2_BEARER_GRANT, "orgName": org_name, "assertion": assertion}
        return self._grant(credentials, form, "saml2 bearer grant")

    def _grant(self, credentials: ClientCredentials, form: dict[str, str], what: str) -> AccessToken:
        issued_at = self._clock()
        with transport_errors(what):
            response = self._http.post(
                self._token_url,
                data=form,
                auth=httpx.BasicAuth(credentials.client_id, credentials.client_secret),
                headers={"Accept": "application/json"},
            )
        raise_for_status(response, what)
        try:
            body = response.json()
            token = str(body["access_token"])
            expires_in = float(body["expires_in"])
            token_type = str(body.get("token_type", "bearer"))
        except (ValueError, KeyError, TypeError):
            raise GenesysError(f"{what} returned an unreadable token response") from None
        # Expiry is counted from when the request was sent, so it is never later than the server's.
        return AccessToken(token, token_type, issued_at, issued_at + expires_in)
