"""The coverage auditor's handler against moto's DynamoDB: one closed window, every task's sessions merged."""

from __future__ import annotations

import json
import time

import boto3
import pytest

from evidence.coverage import session_sort_key
from evidence.schema import COVERAGE, create_table_kwargs
from functions.audit_coverage import handler as audit_handler
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


def test_the_auditor_emits_fleet_gaps_and_live_tasks_per_shard(aws, monkeypatch, capsys):
    """Given a: gap covered by b on shard 0, and nobody for 15 s on shard 1, only shard 1 has fleet-uncovered seconds."""
    boto3.client("dynamodb").create_table(**create_table_kwargs("coverage", COVERAGE))  # type: ignore[arg-type]
    monkeypatch.setenv("COVERAGE_TABLE", "coverage")
    monkeypatch.setenv("SHARDS", json.dumps(["acme:0", "acme:1"]))
    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)
    audit_handler.runtime.cache_clear()
    now = time.time()
    end = ((now - 30) // 60) * 60  # the window the handler will audit
    start = end - 60
    put_session("coverage", "acme:0", "a", start - 5, start + 20)
    put_session("coverage", "acme:0", "a", start + 40, end + 5)
    put_session("coverage", "acme:0", "b", start - 5, end + 5)
    put_session("coverage", "acme:1", "a", start - 5, start + 45)
    result = audit_handler.handler({}, FakeLambdaContext())
    assert result["window"] == [start, end]
    metrics = {(m["name"], m["shard"]): m["value"] for m in emf_metrics(capsys.readouterr().out) if "shard" in m}
    assert metrics[("FleetUncoveredSeconds", "acme:0")] == 0
    assert metrics[("FleetLiveTasks", "acme:0")] == 2
    assert metrics[("FleetUncoveredSeconds", "acme:1")] == pytest.approx(15, abs=0.01)
    assert metrics[("FleetLiveTasks", "acme:1")] == 0
