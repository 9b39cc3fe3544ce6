"""Emulator OAuth and REST behaviour, driven with a real HTTP client on port 0."""

from __future__ import annotations

import base64
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from emulator.saml import build_assertion
from tests.conftest import CLIENT_ID, bearer, mint

SAML = {"saml_clients": {"saml-client": "saml-secret"}}
CHANNELS = "/api/v2/notifications/channels"


def _saml_grant(http, base_url, assertion, org="emulator-org", auth=("saml-client", "saml-secret")):
    form = {"grant_type": "urn:ietf:params:oauth:grant-type:saml2-bearer", "orgName": org, "assertion": assertion}
    return http.post(f"{base_url}/oauth/token", data=form, auth=auth)


def test_wrong_secret_gets_401_with_oauth_error_body(emulator, http):
    response = http.post(
        f"{emulator.base_url}/oauth/token", data={"grant_type": "client_credentials"}, auth=(CLIENT_ID, "nope")
    )
    assert response.status_code == 401
    assert set(response.json()) == {"error", "error_description"}


def test_tokens_are_opaque_random_and_coexist(make_emulator, http):
    emu = make_emulator(token_lifetime=120)
    first, second = mint(http, emu.base_url), mint(http, emu.base_url)
    assert first != second
    assert len(first) >= 32
    for token in (first, second):
        assert http.get(f"{emu.base_url}{CHANNELS}", headers=bearer(token)).status_code == 200
    granted = http.post(
        f"{emu.base_url}/oauth/token", data={"grant_type": "client_credentials"}, auth=(CLIENT_ID, "emulator-secret")
    )
    assert granted.json()["expires_in"] == 120


def test_default_token_lifetime_is_a_day(emulator, http):
    granted = http.post(
        f"{emulator.base_url}/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(CLIENT_ID, "emulator-secret"),
    )
    assert granted.json() | {"access_token": "x"} == {"access_token": "x", "token_type": "bearer", "expires_in": 86400}


def test_saml2_bearer_accepts_a_valid_assertion(make_emulator, http):
    emu = make_emulator(**SAML)
    assertion = build_assertion(
        "https://idp.example.test", "bob@example.test", datetime.now(UTC) + timedelta(minutes=1)
    )
    response = _saml_grant(http, emu.base_url, assertion)
    assert response.status_code == 200
    assert http.get(f"{emu.base_url}{CHANNELS}", headers=bearer(response.json()["access_token"])).status_code == 200


@pytest.mark.parametrize(
    ("assertion", "why"),
    [
        (build_assertion("https://evil.example", "bob", datetime.now(UTC) + timedelta(minutes=1)), "issuer"),
        (build_assertion("https://idp.example.test", "bob", datetime.now(UTC) - timedelta(minutes=1)), "expired"),
        ("not-base64!!", "base64"),
        (base64.b64encode(b"<Assertion/>").decode(), "saml:Assertion"),
    ],
)
def test_saml2_bearer_refuses_bad_assertions(make_emulator, http, assertion, why):
    emu = make_emulator(**SAML)
    response = _saml_grant(http, emu.base_url, assertion)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"
    assert why in response.json()["error_description"]


def test_saml2_bearer_needs_a_saml_client_and_the_org_name(make_emulator, http):
    emu = make_emulator(**SAML)
    assertion = build_assertion("https://idp.example.test", "bob", datetime.now(UTC) + timedelta(minutes=1))
    assert _saml_grant(http, emu.base_url, assertion, auth=(CLIENT_ID, "emulator-secret")).status_code == 401
    assert _saml_grant(http, emu.base_url, assertion, org="other-org").status_code == 400


def test_rest_needs_a_valid_unexpired_bearer_token(emulator, http):
    assert http.get(f"{emulator.base_url}{CHANNELS}").status_code == 401
    assert http.get(f"{emulator.base_url}{CHANNELS}", headers=bearer("made-up")).status_code == 401
    token = mint(http, emulator.base_url)
    assert http.get(f"{emulator.base_url}{CHANNELS}", headers=bearer(token)).status_code == 200
    emulator.fault("expire_token", client=CLIENT_ID)
    assert http.get(f"{emulator.base_url}{CHANNELS}", headers=bearer(token)).status_code == 401


def test_per_token_rate_limit_answers_429_with_retry_after(make_emulator, http):
    emu = make_emulator(rate_limit_per_minute=5)
    token, other = mint(http, emu.base_url), mint(http, emu.base_url)
    statuses = [http.get(f"{emu.base_url}{CHANNELS}", headers=bearer(token)).status_code for _ in range(6)]
    assert statuses == [200] * 5 + [429]
    limited = http.get(f"{emu.base_url}{CHANNELS}", headers=bearer(token))
    assert 1 <= int(limited.headers["Retry-After"]) <= 61
    assert http.get(f"{emu.base_url}{CHANNELS}", headers=bearer(other)).status_code == 200


def test_channel_creation_returns_id_connect_uri_and_expiry(make_emulator, http):
    emu = make_emulator(channel_lifetime=600)
    body = http.post(f"{emu.base_url}{CHANNELS}", headers=bearer(mint(http, emu.base_url))).json()
    assert body["id"].startswith("streaming-")
    assert body["connectUri"] == f"ws://127.0.0.1:{emu.port}/channels/{body['id']}"
    expires = datetime.fromisoformat(body["expires"].replace("Z", "+00:00")).timestamp()
    assert expires == pytest.approx(time.time() + 600, abs=5)


def test_head_and_list_channels_by_token_and_by_client(emulator, http):
    first, second = mint(http, emulator.base_url), mint(http, emulator.base_url)
    mine = http.post(f"{emulator.base_url}{CHANNELS}", headers=bearer(first)).json()["id"]
    theirs = http.post(f"{emulator.base_url}{CHANNELS}", headers=bearer(second)).json()["id"]
    assert http.head(f"{emulator.base_url}{CHANNELS}/{mine}", headers=bearer(first)).status_code == 200
    assert http.head(f"{emulator.base_url}{CHANNELS}/streaming-0-gone", headers=bearer(first)).status_code == 404
    by_token = http.get(f"{emulator.base_url}{CHANNELS}?includechannels=token", headers=bearer(first)).json()
    by_client = http.get(f"{emulator.base_url}{CHANNELS}?includechannels=oauthclient", headers=bearer(first)).json()
    assert [c["id"] for c in by_token["entities"]] == [mine]
    assert sorted(c["id"] for c in by_client["entities"]) == sorted([mine, theirs])


def test_subscriptions_post_put_get_delete_and_ignore_errors(emulator, http):
    token = mint(http, emulator.base_url)
    channel = http.post(f"{emulator.base_url}{CHANNELS}", headers=bearer(token)).json()["id"]
    subs = f"{emulator.base_url}{CHANNELS}/{channel}/subscriptions"
    # Without ignoreErrors an unknown topic fails the whole call
    strict = http.post(subs, headers=bearer(token), json=[{"id": "v2.users.a.presence"}, {"id": "v2.nope"}])
    assert strict.status_code == 400
    assert http.get(subs, headers=bearer(token)).json()["entities"] == []
    # With ignoreErrors it is marked Rejected and the rest are permitted
    lenient = http.post(
        subs + "?ignoreErrors=true", headers=bearer(token), json=[{"id": "v2.users.a.presence"}, {"id": "v2.nope"}]
    )
    states = {e["id"]: e["state"] for e in lenient.json()["entities"]}
    assert states == {"v2.users.a.presence": "Permitted", "v2.nope": "Rejected"}
    # POST adds, PUT replaces, DELETE removes all
    http.post(subs, headers=bearer(token), json=[{"id": "v2.users.b.presence"}]).raise_for_status()
    assert [e["id"] for e in http.get(subs, headers=bearer(token)).json()["entities"]] == [
        "v2.users.a.presence",
        "v2.users.b.presence",
    ]
    http.put(subs, headers=bearer(token), json=[{"id": "v2.users.c?presence&routingStatus"}]).raise_for_status()
    assert [e["id"] for e in http.get(subs, headers=bearer(token)).json()["entities"]] == [
        "v2.users.c?presence&routingStatus"
    ]
    assert http.delete(subs, headers=bearer(token)).status_code == 204
    assert http.get(subs, headers=bearer(token)).json()["entities"] == []


def test_more_than_1000_topics_is_a_400(emulator, http):
    token = mint(http, emulator.base_url)
    channel = http.post(f"{emulator.base_url}{CHANNELS}", headers=bearer(token)).json()["id"]
    subs = f"{emulator.base_url}{CHANNELS}/{channel}/subscriptions"
    topics = [{"id": f"v2.users.u{i}.presence"} for i in range(1001)]
    assert http.put(subs, headers=bearer(token), json=topics).status_code == 400
    assert http.put(subs, headers=bearer(token), json=topics[:1000]).status_code == 200


def test_available_topics_lists_templates(emulator, http):
    body = http.get(
        f"{emulator.base_url}/api/v2/notifications/availabletopics", headers=bearer(mint(http, emulator.base_url))
    ).json()
    ids = {e["id"] for e in body["entities"]}
    assert {"v2.users.{id}.presence", "v2.routing.queues.{id}.conversations"} <= ids


@pytest.mark.parametrize(("status", "retry_after"), [(429, "3"), (500, None), (503, None)])
def test_injected_rest_failures_hit_the_next_n_calls(emulator, http, status, retry_after):
    token = mint(http, emulator.base_url)
    emulator.fault("fail_requests", target="rest", count=2, status=status, retry_after=3)
    responses = [http.get(f"{emulator.base_url}{CHANNELS}", headers=bearer(token)) for _ in range(3)]
    assert [r.status_code for r in responses] == [status, status, 200]
    assert responses[0].headers.get("Retry-After") == retry_after


def test_unknown_fault_is_a_400_naming_the_known_ones(emulator, http):
    response = http.post(f"{emulator.base_url}/_emulator/faults", json={"type": "meteor"})
    assert response.status_code == 400
    assert "drop_socket" in response.json()["message"]


def test_state_shows_clients_tokens_and_channels(emulator, http):
    token = mint(http, emulator.base_url)
    http.post(f"{emulator.base_url}{CHANNELS}", headers=bearer(token))
    state = http.get(f"{emulator.base_url}/_emulator/state").json()
    assert state["clients"] == [CLIENT_ID]
    assert len(state["tokens"]) == 1
    assert state["tokens"][0]["valid"]
    assert token not in str(state)
    assert len(state["channels"]) == 1
    assert not state["channels"][0]["connected"]


def test_command_line_starts_on_port_zero_and_its_url_is_live_once_printed():
    """Given the emulator started on port 0, when the URL it prints is used at once, the first request is answered
    (the socket listens before the URL is printed; a client started beside it must not be refused)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "emulator", "--port", "0", "--client", "a:b", "--event-rate", "0"],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = process.stderr.readline()
        base_url = line.rsplit(" ", 1)[-1].strip()
        assert base_url.startswith("http://127.0.0.1:")
        socket.create_connection(("127.0.0.1", int(base_url.rsplit(":", 1)[1])), timeout=30).close()  # at once
        assert httpx.get(f"{base_url}/_emulator/state", timeout=30).json()["clients"] == ["a"]
    finally:
        process.terminate()
        process.wait(10)


def test_command_line_rejects_bad_values():
    result = subprocess.run(
        [sys.executable, "-m", "emulator", "--token-lifetime", "-1"], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 2
    assert "token_lifetime must be > 0" in result.stderr
