"""The mint function against moto's server (Secrets Manager) and the emulator (Genesys login)."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import boto3
import pytest

from functions.common import OrgsEnv, load_env
from functions.mint_token import handler as mint_handler
from functions.mint_token.minter import Minter, request_token
from functions.mint_token.policy import RefreshPolicy
from functions.orgs import ConfigError, OrgConfig
from functions.secrets_store import SecretsStore
from genesys.backoff import Backoff
from genesys.http import new_http_client
from genesys.oauth import OAuthClient
from genesys.regions import resolve_hosts
from genesys.token_secret import TokenSecret
from tests.conftest import CLIENT_ID, CLIENT_SECRET, FakeLambdaContext, emf_metrics, json_logs


def make_org(sm: Any, emulator_url: str, name: str, secret: str = CLIENT_SECRET) -> dict[str, Any]:
    sm.create_secret(
        Name=f"{name}/credentials", SecretString=json.dumps({"client_id": CLIENT_ID, "client_secret": secret})
    )
    sm.create_secret(Name=f"{name}/token")
    return {
        "name": name,
        "environment": emulator_url,
        "credentials_secret": f"{name}/credentials",
        "token_secret": f"{name}/token",
    }


@pytest.fixture
def sm(aws):
    return boto3.client("secretsmanager")


@pytest.fixture
def setup(sm, make_emulator, monkeypatch):
    """Given an emulator issuing 100 s tokens and one org whose policy floor is 25 s (threshold 50 s)."""
    emu = make_emulator(token_lifetime=100)

    def configure(*orgs: dict[str, Any]) -> None:
        monkeypatch.setenv("ORGS", json.dumps(list(orgs)))
        monkeypatch.setenv("SCHEDULE_PERIOD_SECONDS", "10")
        monkeypatch.setenv("ROTATION_LEAD_SECONDS", "10")
        monkeypatch.setenv("RETRY_ALLOWANCE_SECONDS", "5")
        mint_handler.runtime.cache_clear()

    return emu, configure


def invoke(event: dict[str, Any] | None = None) -> dict[str, Any]:
    result: dict[str, Any] = mint_handler.handler(event or {}, FakeLambdaContext())
    return result


def versions(sm: Any, name: str) -> list[dict[str, Any]]:
    return sm.list_secret_version_ids(SecretId=name)["Versions"]


def stored(sm: Any, name: str, stage: str = "AWSCURRENT") -> TokenSecret:
    return TokenSecret.from_json(sm.get_secret_value(SecretId=name, VersionStage=stage)["SecretString"])


def test_first_run_mints_and_writes_the_contract_without_the_client_secret(sm, setup, capsys):
    emu, configure = setup
    configure(make_org(sm, emu.base_url, "acme"))
    # When the minter runs with no cached token
    result = invoke({"scheduled_time": "2026-11-28T10:00:00Z"})
    # Then it minted, and the secret holds the contract
    assert [r["outcome"] for r in result["results"]] == ["minted"]
    raw = sm.get_secret_value(SecretId="acme/token")["SecretString"]
    assert set(json.loads(raw)) == {
        "access_token",
        "token_type",
        "expires_at",
        "issued_at",
        "org",
        "environment",
        "client_id",
    }
    secret = TokenSecret.from_json(raw)
    assert (secret.org, secret.environment, secret.client_id) == ("acme", emu.base_url, CLIENT_ID)
    assert secret.expires_at - secret.issued_at == pytest.approx(100, abs=1)
    assert CLIENT_SECRET not in raw
    metrics = {(m["name"], m["org"]): m["value"] for m in emf_metrics(capsys.readouterr().out)}
    assert metrics[("TokenMinted", "acme")] == 1
    assert metrics[("TokenMintFailed", "acme")] == 0
    assert 95 <= metrics[("TokenRemainingSeconds", "acme")] <= 100


def test_a_fresh_token_is_not_rewritten(sm, setup):
    emu, configure = setup
    configure(make_org(sm, emu.base_url, "acme"))
    invoke()
    result = invoke()
    assert result["results"][0]["outcome"] == "fresh"
    assert len(versions(sm, "acme/token")) == 1


def test_a_token_under_the_threshold_is_refreshed_and_the_old_one_stays_previous(sm, setup):
    emu, configure = setup
    configure(make_org(sm, emu.base_url, "acme"))
    now = time.time()
    old = TokenSecret("old-token", "bearer", now + 40, now - 60, "acme", emu.base_url, CLIENT_ID)
    sm.put_secret_value(SecretId="acme/token", SecretString=old.to_json())
    # When 40 s are left of a 100 s token (threshold 50 s)
    result = invoke()
    # Then a new token is current and the old one is still readable as AWSPREVIOUS
    assert result["results"][0]["outcome"] == "minted"
    assert stored(sm, "acme/token").access_token != "old-token"
    assert stored(sm, "acme/token", "AWSPREVIOUS").access_token == "old-token"


def test_forced_mint_writes_even_when_fresh(sm, setup):
    emu, configure = setup
    configure(make_org(sm, emu.base_url, "acme"))
    invoke()
    first = stored(sm, "acme/token").access_token
    result = invoke({"force": True})
    assert result["results"][0]["outcome"] == "minted"
    assert stored(sm, "acme/token").access_token != first
    assert len(versions(sm, "acme/token")) == 2


def test_bad_credentials_write_nothing_keep_the_old_token_and_log_no_secret(sm, setup, capsys):
    emu, configure = setup
    configure(make_org(sm, emu.base_url, "acme", secret="WRONG-SECRET-xyz"))
    now = time.time()
    old = TokenSecret("OLD-TOKEN-VALUE", "bearer", now + 10, now - 90, "acme", emu.base_url, CLIENT_ID)
    sm.put_secret_value(SecretId="acme/token", SecretString=old.to_json())
    with json_logs(mint_handler.logger) as logs:
        result = invoke()
    assert result["results"][0]["outcome"] == "failed"
    assert stored(sm, "acme/token").access_token == "OLD-TOKEN-VALUE"
    assert len(versions(sm, "acme/token")) == 1
    out = capsys.readouterr().out + logs.getvalue()
    assert "WRONG-SECRET-xyz" not in out
    assert "OLD-TOKEN-VALUE" not in out
    metrics = {(m["name"], m["org"]): m["value"] for m in emf_metrics(out)}
    assert metrics[("TokenMintFailed", "acme")] == 1
    errors = [json.loads(line) for line in logs.getvalue().splitlines() if '"ERROR"' in line]
    assert errors
    assert errors[0]["org"] == "acme"
    assert "HTTP 401" in errors[0]["detail"]


def test_no_token_or_secret_appears_in_any_log_line(sm, setup, capsys):
    emu, configure = setup
    configure(make_org(sm, emu.base_url, "acme"))
    with json_logs(mint_handler.logger) as logs:
        invoke()
        invoke({"force": True})
    token = stored(sm, "acme/token").access_token
    out = capsys.readouterr().out + logs.getvalue()
    assert "token mint outcome" in logs.getvalue()
    assert token not in out
    assert CLIENT_SECRET not in out


def test_one_org_failing_never_stops_the_others(sm, setup):
    emu, configure = setup
    configure(make_org(sm, emu.base_url, "broken", secret="nope"), make_org(sm, emu.base_url, "good"))
    outcomes = {r["org"]: r["outcome"] for r in invoke()["results"]}
    assert outcomes == {"broken": "failed", "good": "minted"}
    assert stored(sm, "good/token").org == "good"


def test_the_deployment_placeholder_is_reported_not_sent_to_genesys(sm, setup):
    emu, configure = setup
    org = make_org(sm, emu.base_url, "acme")
    placeholder = json.dumps({"client_id": "REPLACE_WITH_CLIENT_ID", "client_secret": "generated"})
    sm.put_secret_value(SecretId="acme/credentials", SecretString=placeholder)
    configure(org)
    result = invoke()["results"][0]
    assert result["outcome"] == "failed"
    assert "still holds the deployment placeholder" in result["detail"]
    assert emu.snapshot()["tokens"] == []


def test_missing_credentials_secret_is_a_failure_with_a_clear_detail(sm, setup):
    emu, configure = setup
    org = make_org(sm, emu.base_url, "acme")
    sm.delete_secret(SecretId="acme/credentials", ForceDeleteWithoutRecovery=True)
    configure(org)
    result = invoke()["results"][0]
    assert result["outcome"] == "failed"


# ------------------------------------------------------------------ retries, with a recorded sleep


def _minter(emu, sleeps: list[float], policy: RefreshPolicy | None = None) -> Minter:
    http = new_http_client()

    def grant(org: OrgConfig, creds: Any) -> Any:
        return OAuthClient(resolve_hosts(org.environment).login_url, http).client_credentials(creds)

    return Minter(
        SecretsStore(boto3.client("secretsmanager")),
        grant,
        policy or RefreshPolicy(schedule_period=10, rotation_lead=10, retry_allowance=5),
        sleep=sleeps.append,
        backoff=lambda: Backoff(base=0.01, cap=0.05),
    )


def test_429_waits_at_least_retry_after_then_succeeds(sm, setup):
    emu, _ = setup
    org = OrgConfig.model_validate(make_org(sm, emu.base_url, "acme"))
    emu.fault("fail_requests", target="oauth", count=1, status=429, retry_after=3)
    sleeps: list[float] = []
    result = _minter(emu, sleeps).run(org, slot="1", force=False, deadline=time.time() + 60)
    assert result.outcome == "minted"
    assert len(sleeps) == 1
    assert sleeps[0] >= 3


def test_429_longer_than_the_time_left_gives_up_and_writes_nothing(sm, setup):
    emu, _ = setup
    org = OrgConfig.model_validate(make_org(sm, emu.base_url, "acme"))
    emu.fault("fail_requests", target="oauth", count=1, status=429, retry_after=120)
    sleeps: list[float] = []
    result = _minter(emu, sleeps).run(org, slot="1", force=False, deadline=time.time() + 30)
    assert result.outcome == "failed"
    assert "no time left" in result.detail
    assert sleeps == []
    assert versions(sm, "acme/token") == []


def test_server_errors_are_retried_with_jittered_backoff_then_succeed(sm, setup):
    emu, _ = setup
    org = OrgConfig.model_validate(make_org(sm, emu.base_url, "acme"))
    emu.fault("fail_requests", target="oauth", count=3, status=500)
    sleeps: list[float] = []
    result = _minter(emu, sleeps).run(org, slot="1", force=False, deadline=time.time() + 60)
    assert result.outcome == "minted"
    assert len(sleeps) == 3
    assert all(0 <= s <= 0.05 for s in sleeps)


def test_persistent_server_errors_give_up_after_bounded_attempts(sm, setup):
    emu, _ = setup
    org = OrgConfig.model_validate(make_org(sm, emu.base_url, "acme"))
    emu.fault("fail_requests", target="oauth", count=50, status=503)
    sleeps: list[float] = []
    result = _minter(emu, sleeps).run(org, slot="1", force=False, deadline=time.time() + 60)
    assert result.outcome == "failed"
    assert "gave up after 5 attempts" in result.detail
    assert len(sleeps) == 4


def test_two_concurrent_runs_of_one_slot_make_one_version(sm, setup):
    emu, _ = setup
    org = OrgConfig.model_validate(make_org(sm, emu.base_url, "acme"))
    both_minted = threading.Barrier(2)
    http = new_http_client()

    def grant(o: OrgConfig, creds: Any) -> Any:
        token = OAuthClient(resolve_hosts(o.environment).login_url, http).client_credentials(creds)
        both_minted.wait(5)  # both runs saw no cached token and minted before either writes
        return token

    minters = [Minter(SecretsStore(boto3.client("secretsmanager")), grant, RefreshPolicy()) for _ in range(2)]
    results: list[Any] = [None, None]

    def run(i: int) -> None:
        results[i] = minters[i].run(org, slot="42", force=False, deadline=time.time() + 30)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert sorted(r.outcome for r in results) == ["concurrent", "minted"]
    ids = [v["VersionId"] for v in versions(sm, "acme/token")]
    assert ids == [request_token("acme", "42")]


def test_policy_numbers_for_one_hour_and_one_day_tokens():
    policy = RefreshPolicy()
    assert policy.floor == 1020
    assert policy.threshold(3600) == 1800
    assert policy.threshold(86_400) == 43_200
    assert policy.threshold(900) == 1020  # the floor wins: such tokens are refreshed at every run


def test_bad_org_config_is_a_clear_error():
    with pytest.raises(ConfigError, match="ORGS: Field required"):
        load_env(OrgsEnv, {})
    with pytest.raises(ConfigError, match="unknown Genesys region domain"):
        load_env(
            OrgsEnv,
            {
                "ORGS": json.dumps(
                    [{"name": "a", "environment": "nowhere.example", "credentials_secret": "c", "token_secret": "t"}]
                )
            },
        )
    org = {"name": "a", "environment": "mypurecloud.ie", "credentials_secret": "c", "token_secret": "t"}
    with pytest.raises(ConfigError, match="duplicate"):
        load_env(OrgsEnv, {"ORGS": json.dumps([org, org])})
