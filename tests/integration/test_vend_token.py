"""The vend function: HTTP API events with verified JWT claims, moto's Secrets Manager, the emulator for SAML."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities.parameters import SecretsProvider

from emulator.saml import build_assertion
from functions.orgs import ConfigError
from functions.vend_token import handler as vend_handler
from functions.vend_token.access import AccessPolicy
from functions.vend_token.vending import TokenVendor
from genesys.token_reader import TokenUnavailableError
from genesys.token_secret import TokenSecret
from tests.conftest import FakeLambdaContext, json_logs

POLICY = {
    "rules": [
        {"orgs": ["acme"], "claims": {"groups": ["cc-integrations"]}},
        {"orgs": ["*"], "scopes": ["genesys/admin"]},
    ]
}


def http_event(
    method: str, path: str, claims: dict[str, Any], scopes: list[str] | None = None, body: Any = None
) -> dict[str, Any]:
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {"content-type": "application/json"},
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "api",
            "domainName": "api.example.test",
            "domainPrefix": "api",
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "t"},
            "authorizer": {"jwt": {"claims": claims, "scopes": scopes}},
            "requestId": "req",
            "routeKey": "$default",
            "stage": "$default",
            "time": "28/Nov/2026:10:00:00 +0000",
            "timeEpoch": 0,
        },
        "body": json.dumps(body) if body is not None else None,
        "isBase64Encoded": False,
    }


def put_token(sm: Any, name: str, value: str, remaining: float, lifetime: float = 3600) -> None:
    now = time.time()
    secret = TokenSecret(value, "bearer", now + remaining, now + remaining - lifetime, "acme", "mypurecloud.ie", "cid")
    sm.put_secret_value(SecretId=name, SecretString=secret.to_json())


@pytest.fixture
def sm(aws):
    client = boto3.client("secretsmanager")
    client.create_secret(Name="acme/token")
    client.create_secret(Name="beta/token")
    return client


@pytest.fixture
def configure(monkeypatch):
    def apply(emulator_url: str = "mypurecloud.ie", saml: bool = False) -> None:
        acme: dict[str, Any] = {
            "name": "acme",
            "environment": emulator_url,
            "credentials_secret": "acme/credentials",
            "token_secret": "acme/token",
        }
        if saml:
            acme["saml"] = {"credentials_secret": "acme/saml-client", "org_name": "emulator-org"}
        beta = {
            "name": "beta",
            "environment": "mypurecloud.ie",
            "credentials_secret": "b/c",
            "token_secret": "beta/token",
        }
        monkeypatch.setenv("ORGS", json.dumps([acme, beta]))
        monkeypatch.setenv("ACCESS_POLICY", json.dumps(POLICY))
        vend_handler.runtime.cache_clear()  # a new container for each configuration

    apply()
    return apply


def call(event: dict[str, Any]) -> tuple[int, dict[str, str], dict[str, Any]]:
    response = vend_handler.handler(event, FakeLambdaContext())
    return response["statusCode"], response["headers"], json.loads(response["body"])


def test_an_allowed_caller_gets_the_token_with_no_store(sm, configure):
    put_token(sm, "acme/token", "TOKEN-A", remaining=3000)
    status, headers, body = call(
        http_event("GET", "/orgs/acme/token", {"sub": "svc", "groups": "[cc-integrations other]"})
    )
    assert status == 200
    assert body["access_token"] == "TOKEN-A"
    assert body["token_type"] == "bearer"
    assert 2990 <= body["expires_in"] <= 3000
    assert headers["Cache-Control"] == "no-store"


def test_a_caller_without_the_claims_is_denied(sm, configure):
    put_token(sm, "acme/token", "TOKEN-A", remaining=3000)
    status, _headers, body = call(http_event("GET", "/orgs/acme/token", {"sub": "svc", "groups": "[other]"}))
    assert status == 403
    assert "TOKEN-A" not in json.dumps(body)
    # a scope-based rule allows any org
    status, _, _ = call(http_event("GET", "/orgs/acme/token", {"sub": "svc"}, scopes=["genesys/admin"]))
    assert status == 200


def test_unknown_org_is_404(sm, configure):
    status, _, body = call(http_event("GET", "/orgs/nobody/token", {"groups": "[cc-integrations]"}))
    assert status == 404
    assert "nobody" in body["message"]


def test_no_token_with_enough_life_is_503_with_retry_after(sm, configure):
    put_token(sm, "beta/token", "DYING", remaining=100)
    status, headers, body = call(http_event("GET", "/orgs/beta/token", {}, scopes=["genesys/admin"]))
    assert status == 503
    assert int(headers["Retry-After"]) > 0
    assert "DYING" not in json.dumps(body)
    # and a secret with no value at all is the same answer
    status, _, _ = call(http_event("GET", "/orgs/acme/token", {"groups": "[cc-integrations]"}))
    assert status == 503


def test_a_token_near_expiry_triggers_an_early_reread(sm, aws):
    calls: list[str] = []
    client = boto3.client("secretsmanager")
    client.meta.events.register("before-call.secrets-manager.GetSecretValue", lambda **kw: calls.append("get"))
    now = [time.time()]
    orgs = {"acme": _org()}
    vendor = TokenVendor(
        orgs,
        SecretsProvider(boto3_client=client),
        min_remaining=300,
        max_age=300,
        saml_grant=_no_saml,
        clock=lambda: now[0],
    )
    put_token(sm, "acme/token", "FIRST", remaining=1000)
    assert vendor.vend("acme").access_token == "FIRST"
    put_token(sm, "acme/token", "SECOND", remaining=3600)  # the minter refreshed
    now[0] += 100  # 900 s left: still served from memory
    assert vendor.vend("acme").access_token == "FIRST"
    assert len(calls) == 1
    now[0] += 500  # 400 s left < 300 + 120: re-read early
    assert vendor.vend("acme").access_token == "SECOND"
    assert len(calls) == 2


def test_reader_does_not_stampede_when_no_newer_token_exists(sm, aws):
    calls: list[str] = []
    client = boto3.client("secretsmanager")
    client.meta.events.register("before-call.secrets-manager.GetSecretValue", lambda **kw: calls.append("get"))
    put_token(sm, "acme/token", "ONLY", remaining=350)
    vendor = TokenVendor(
        {"acme": _org()}, SecretsProvider(boto3_client=client), min_remaining=300, max_age=300, saml_grant=_no_saml
    )
    for _ in range(50):
        assert vendor.vend("acme").access_token == "ONLY"
    assert len(calls) == 2  # the first read and one early re-read, not one per request
    with pytest.raises(TokenUnavailableError, match="needs 400 s"):
        TokenVendor(
            {"acme": _org()}, SecretsProvider(boto3_client=client), min_remaining=400, max_age=300, saml_grant=_no_saml
        ).vend("acme")


def test_1000_warm_requests_make_no_secrets_manager_calls(sm, configure):
    put_token(sm, "acme/token", "WARM", remaining=3000)
    event = http_event("GET", "/orgs/acme/token", {"groups": "[cc-integrations]"})
    assert call(event)[0] == 200  # cold: reads the secret once
    calls: list[str] = []
    vend_handler.runtime().secrets_client.meta.events.register(
        "before-call.secrets-manager.GetSecretValue", lambda **kw: calls.append("get")
    )
    statuses = {call(event)[0] for _ in range(1000)}
    assert statuses == {200}
    assert len(calls) == 0


def test_saml_assertion_is_exchanged_for_a_user_token_that_is_not_stored(sm, configure, make_emulator):
    emu = make_emulator(saml_clients={"saml-client": "saml-secret"})
    configure(emulator_url=emu.base_url, saml=True)
    sm.create_secret(
        Name="acme/saml-client", SecretString=json.dumps({"client_id": "saml-client", "client_secret": "saml-secret"})
    )
    assertion = build_assertion(
        "https://idp.example.test", "alice@example.test", datetime.now(UTC) + timedelta(minutes=5)
    )
    claims = {"groups": "[cc-integrations]"}
    with json_logs(vend_handler.logger) as logs:
        status, headers, body = call(http_event("POST", "/orgs/acme/saml-token", claims, body={"assertion": assertion}))
        assert status == 200
        assert headers["Cache-Control"] == "no-store"
        assert [t["subject"] for t in emu.snapshot()["tokens"]] == ["alice@example.test"]
        # the user token is not written anywhere
        assert sm.list_secret_version_ids(SecretId="acme/token")["Versions"] == []
        # a bad assertion is refused
        bad = build_assertion("https://evil.example", "mallory", datetime.now(UTC) + timedelta(minutes=5))
        status, _, body_bad = call(http_event("POST", "/orgs/acme/saml-token", claims, body={"assertion": bad}))
        assert status == 400
        assert "refused" in body_bad["message"]
        status, _, _ = call(http_event("POST", "/orgs/acme/saml-token", claims, body={"nope": 1}))
        assert status == 400
        # an org without a SAML client
        status, _, _ = call(
            http_event("POST", "/orgs/beta/saml-token", {}, scopes=["genesys/admin"], body={"assertion": assertion})
        )
        assert status == 404
    assert body["access_token"] not in logs.getvalue()
    assert "saml-secret" not in logs.getvalue()


def test_access_policy_config_errors_are_clear():
    with pytest.raises(ConfigError, match="ACCESS_POLICY is not set"):
        AccessPolicy.from_json(None)
    with pytest.raises(ConfigError, match="rules"):
        AccessPolicy.from_json(json.dumps({"rules": []}))
    with pytest.raises(ConfigError, match="not valid JSON"):
        AccessPolicy.from_json("{")


def test_claim_shapes_from_http_api_are_understood():
    policy = AccessPolicy.model_validate({"rules": [{"orgs": ["a"], "claims": {"groups": ["x"]}, "scopes": ["s1"]}]})
    assert policy.allows("a", {"groups": "[y x]", "scope": "s0 s1"}, None)
    assert policy.allows("a", {"groups": ["x"]}, ["s1"])
    assert not policy.allows("a", {"groups": "[y]"}, ["s1"])
    assert not policy.allows("a", {"groups": "x"}, ["s2"])
    assert not policy.allows("b", {"groups": "x"}, ["s1"])


def _org():
    from functions.orgs import OrgConfig

    return OrgConfig(name="acme", environment="mypurecloud.ie", credentials_secret="c", token_secret="acme/token")


def _no_saml(*args: Any) -> Any:
    raise AssertionError("not used")
