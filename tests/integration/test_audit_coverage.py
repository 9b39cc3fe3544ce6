"""The coverage auditor's handler against moto's DynamoDB: one closed window, every task's sessions merged."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import boto3
import httpx
import pytest

from evidence.coverage import heartbeat_item, session_sort_key, topics_item
from evidence.gap_table import GapTable
from evidence.gaps import PENDING
from evidence.schema import COVERAGE, EVENTS, create_table_kwargs
from functions.audit_coverage import handler as audit_handler
from genesys.timefmt import iso_ms
from genesys.token_secret import TokenSecret, token_secret_name
from tests.conftest import FakeLambdaContext, emf_metrics, mint


def put_session(table: str, shard: str, worker: str, start: float, end: float) -> None:
    boto3.client("dynamodb").put_item(
        TableName=table,
        Item={
            "shard": {"S": shard},
            "session": {"S": session_sort_key(start, f"ch-{worker}-{start}")},
            "start_ms": {"N": str(int(start * 1000))},
            "end_ms": {"N": str(int(end * 1000))},
            "worker": {"S": worker},
        },
    )


def put_heartbeat(table: str, worker: str, at: float) -> None:
    boto3.client("dynamodb").put_item(TableName=table, Item=heartbeat_item(worker, at))


def test_the_auditor_emits_fleet_gaps_and_live_tasks_per_shard_once_per_window(aws, monkeypatch, capsys):
    """Given a: gap covered by b on shard 0, and nobody for 15 s on shard 1, only shard 1 has fleet-uncovered seconds;
    the metrics carry the window's time, and a retry of the same scheduled run emits nothing again."""
    boto3.client("dynamodb").create_table(**create_table_kwargs("coverage", COVERAGE))  # type: ignore[arg-type]
    monkeypatch.setenv("COVERAGE_TABLE", "coverage")
    monkeypatch.setenv("SHARDS", json.dumps(["acme:0", "acme:1"]))
    monkeypatch.setenv("LOOKBACK_SECONDS", "60")  # one window per run: the one that ended at the scheduled time
    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)
    audit_handler.runtime.cache_clear()
    now = time.time()
    end = (now // 60) * 60
    start = end - 60
    put_session("coverage", "acme:0", "a", start - 5, start + 20)
    put_session("coverage", "acme:0", "a", start + 40, end + 5)
    put_session("coverage", "acme:0", "b", start - 5, end + 5)
    put_session("coverage", "acme:1", "a", start - 5, start + 45)
    put_heartbeat("coverage", "a", now)
    put_heartbeat("coverage", "b", now)
    scheduled = {"scheduled_time": iso_ms(end).replace(".000Z", "Z")}  # as EventBridge Scheduler writes it
    result = audit_handler.handler(scheduled, FakeLambdaContext())
    assert result["scheduled"] == end
    emitted = emf_metrics(capsys.readouterr().out)
    metrics = {(m["name"], m["shard"]): m["value"] for m in emitted if "shard" in m}
    assert metrics[("FleetUncoveredSeconds", "acme:0")] == 0
    assert metrics[("FleetLiveTasks", "acme:0")] == 2
    assert metrics[("FleetUncoveredSeconds", "acme:1")] == pytest.approx(15, abs=0.01)
    assert metrics[("FleetLiveTasks", "acme:1")] == 0
    assert {m["timestamp"] for m in emitted if "shard" in m} == {int(start * 1000)}
    # When the schedule retries the same run, the verdicts are already written: nothing is emitted twice
    again = audit_handler.handler(scheduled, FakeLambdaContext())
    assert again["verdicts"] == []
    assert not [m for m in emf_metrics(capsys.readouterr().out) if "shard" in m]


def test_an_outage_across_a_window_boundary_is_one_gap_record_listed_and_repaired_by_the_cli(
    aws, monkeypatch, emulator
):
    """Given nobody covering acme:0 for 30 s across a window boundary (while the emulator published presence
    changes), when the auditor judges both windows (and is retried), then one gap record holds the 30 s, pending;
    `genesys-bridge gaps` lists it, and `genesys-bridge repair --gap ID` rebuilds the changes from Genesys REST
    with the org's cached token."""
    dynamodb = boto3.client("dynamodb")
    dynamodb.create_table(**create_table_kwargs("coverage", COVERAGE))  # type: ignore[arg-type]
    dynamodb.create_table(**create_table_kwargs("events", EVENTS))  # type: ignore[arg-type]
    monkeypatch.setenv("COVERAGE_TABLE", "coverage")
    monkeypatch.setenv("EVENTS_TABLE", "events")
    monkeypatch.setenv("SHARDS", json.dumps(["acme:0"]))
    monkeypatch.setenv("LOOKBACK_SECONDS", "120")
    audit_handler.runtime.cache_clear()
    now = time.time()
    end = (now // 60) * 60
    boundary = end - 60
    dynamodb.put_item(TableName="coverage", Item=topics_item("acme:0", ["v2.users.u-1.presence"], now))
    put_session("coverage", "acme:0", "a", end - 200, boundary - 20)
    put_session("coverage", "acme:0", "b", boundary + 10, end + 5)
    put_heartbeat("coverage", "a", now)
    put_heartbeat("coverage", "b", now)
    for at in (boundary - 30, boundary - 5, boundary + 5, boundary + 30):
        emulator.call(emulator.state.publish, "v2.users.u-1.presence", None, at)
    scheduled = {"scheduled_time": iso_ms(end)}
    audit_handler.handler(scheduled, FakeLambdaContext())
    audit_handler.handler(scheduled, FakeLambdaContext())  # a retry records nothing twice

    (gap,) = GapTable(dynamodb, "coverage").gaps()
    assert (gap.start, gap.end, gap.status, gap.topics) == (boundary - 20, boundary + 10, PENDING, 1)
    listed = run_cli("gaps", "--coverage-table", "coverage", "--since", str(end - 600), "-o", "json")
    assert [g["gap_id"] for g in json.loads(listed.stdout)] == [gap.id]

    http = httpx.Client(timeout=5)
    secret = TokenSecret(mint(http, emulator.base_url), "bearer", now + 3600, now, "acme", emulator.base_url, "c")
    boto3.client("secretsmanager").create_secret(Name=token_secret_name("acme"), SecretString=secret.to_json())
    repaired = run_cli(
        "repair", "--gap", gap.id, "--coverage-table", "coverage", "--events-table", "events", "-o", "json"
    )
    assert repaired.returncode == 0, repaired.stderr
    row = json.loads(repaired.stdout)
    assert (row["status"], row["rebuilt"]) == ("repaired", {"presence": 2})  # the two changes inside the gap
    assert secret.access_token not in repaired.stdout + repaired.stderr


def run_cli(*argv: str) -> subprocess.CompletedProcess[str]:
    entry = shutil.which("genesys-bridge") or str(Path(sys.executable).with_name("genesys-bridge"))
    return subprocess.run([entry, *argv], capture_output=True, text=True, timeout=120, env=dict(os.environ))
