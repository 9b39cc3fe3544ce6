"""The coverage auditor's handler against moto's DynamoDB: one closed window, every task's sessions merged."""

from __future__ import annotations

import json
import time

import boto3
import pytest

from evidence.coverage import heartbeat_item, session_sort_key
from evidence.schema import COVERAGE, create_table_kwargs
from functions.audit_coverage import handler as audit_handler
from genesys.timefmt import iso_ms
from tests.conftest import FakeLambdaContext, emf_metrics


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
