"""The shared client against the emulator: OAuth, typed errors, notifications REST."""

from __future__ import annotations

import logging
import socket
import time

import httpx
import pytest

from emulator.saml import build_assertion
from genesys.errors import (
    BadCredentialsError,
    GenesysTimeoutError,
    RateLimitedError,
    RequestRejectedError,
    ServerError,
)
from genesys.http import new_http_client
from genesys.notifications import NotificationsApi
from genesys.oauth import ClientCredentials, OAuthClient
from tests.conftest import CLIENT_ID, CLIENT_SECRET

CREDS = ClientCredentials(CLIENT_ID, CLIENT_SECRET)


@pytest.fixture
def client():
    with new_http_client() as http:
        yield http


def test_client_credentials_give_a_token_with_absolute_expiry(make_emulator, client):
    # Given an emulator issuing one-hour tokens
    emu = make_emulator(token_lifetime=3600)
    before = time.time()
    # When a token is minted
    token = OAuthClient(emu.base_url, client).client_credentials(CREDS)
    # Then its expiry is absolute and no later than the server's
    assert before <= token.issued_at <= time.time()
    assert token.expires_at == pytest.approx(token.issued_at + 3600)
    assert token.remaining() <= 3600


def test_bad_credentials_are_typed_and_never_echo_the_secret(emulator, client, caplog):
    caplog.set_level(logging.DEBUG)
    with pytest.raises(BadCredentialsError) as caught:
        OAuthClient(emulator.base_url, client).client_credentials(ClientCredentials(CLIENT_ID, "WRONG-SECRET-123"))
    assert caught.value.status == 401
    assert "invalid_client" in str(caught.value)
    assert "WRONG-SECRET-123" not in str(caught.value)
    assert "WRONG-SECRET-123" not in caplog.text


def test_rate_limited_login_carries_retry_after(emulator, client):
    emulator.fault("fail_requests", target="oauth", count=1, status=429, retry_after=7)
    with pytest.raises(RateLimitedError) as caught:
        OAuthClient(emulator.base_url, client).client_credentials(CREDS)
    assert caught.value.retry_after == 7


def test_server_errors_are_typed_then_the_next_call_succeeds(emulator, client):
    emulator.fault("fail_requests", target="oauth", count=1, status=503)
    oauth = OAuthClient(emulator.base_url, client)
    with pytest.raises(ServerError) as caught:
        oauth.client_credentials(CREDS)
    assert caught.value.status == 503
    assert oauth.client_credentials(CREDS).access_token


def test_a_server_that_never_answers_is_a_timeout():
    # Given a listening socket that accepts connections but never responds
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        with new_http_client(httpx.Timeout(0.3)) as http:
            # Then the client raises a typed timeout
            with pytest.raises(GenesysTimeoutError, match="timed out"):
                OAuthClient(url, http).client_credentials(CREDS)


def test_saml2_bearer_grant_returns_a_user_token(make_emulator, client):
    from datetime import UTC, datetime, timedelta

    emu = make_emulator(saml_clients={"saml-client": "saml-secret"})
    assertion = build_assertion(
        "https://idp.example.test", "alice@example.test", datetime.now(UTC) + timedelta(minutes=5)
    )
    token = OAuthClient(emu.base_url, client).saml2_bearer(
        ClientCredentials("saml-client", "saml-secret"), org_name="emulator-org", assertion=assertion
    )
    assert token.access_token
    subjects = [t["subject"] for t in emu.snapshot()["tokens"]]
    assert subjects == ["alice@example.test"]


def test_notifications_api_round_trip(emulator, client):
    token = OAuthClient(emulator.base_url, client).client_credentials(CREDS)
    api = NotificationsApi(emulator.base_url, token.access_token, client)
    # Given a new channel
    channel = api.create_channel()
    assert channel.id.startswith("streaming-")
    assert channel.connect_uri == f"ws://127.0.0.1:{emulator.port}/channels/{channel.id}"
    # When topics are replaced with one rejected among them
    result = api.replace_subscriptions(channel.id, ["v2.users.u1.presence", "v2.not.a.topic"])
    # Then each topic says whether it was permitted
    assert {(t.id, t.permitted) for t in result} == {("v2.users.u1.presence", True), ("v2.not.a.topic", False)}
    assert [t["id"] for t in emulator.snapshot()["channels"]] == [channel.id]
    assert emulator.snapshot()["channels"][0]["topics"] == ["v2.users.u1.presence"]
    # And without ignoreErrors a rejected topic fails the whole call
    with pytest.raises(RequestRejectedError) as caught:
        api.replace_subscriptions(channel.id, ["v2.not.a.topic"], ignore_errors=False)
    assert caught.value.status == 400


def test_the_api_never_shows_its_token(emulator, client):
    api = NotificationsApi(emulator.base_url, "TOKEN-SHOULD-NOT-SHOW", client)
    with pytest.raises(BadCredentialsError) as caught:
        api.create_channel()
    assert "TOKEN-SHOULD-NOT-SHOW" not in str(caught.value) + repr(api)
