"""Worker metrics as EMF, with the dimensions the alarms use."""

from __future__ import annotations

import json

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit

from genesys.observability import add_counts, emit_metric
from stream_worker.metrics import WorkerMetrics
from tests.conftest import emf_metrics


def test_worker_metrics_flush_as_emf_with_the_dimensions_alarms_use(capsys, monkeypatch):
    """Given counts, a rotation and 2 s of running uncovered total, one flush emits them with shard dimensions."""
    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)
    metrics = WorkerMetrics(namespace="Test")
    metrics.count("EventsReceived", 5)
    metrics.rotation("socket_closing")
    metrics.flush(queue_depth=3, live_sockets={"acme:0": 2}, uncovered_totals={"acme:0": 2.0})
    found = {(m["name"], m.get("shard") or m.get("reason")): m for m in emf_metrics(capsys.readouterr().out)}
    assert found[("EventsReceived", None)]["value"] == 5
    assert found[("LiveSockets", "acme:0")]["value"] == 2
    assert found[("LiveSockets", "acme:0")]["service"] == "stream-worker"
    assert found[("UncoveredSeconds", "acme:0")]["value"] == 2.0
    assert found[("Rotations", "socket_closing")]["value"] == 1
    assert found[("QueueDepth", None)]["value"] == 3
    # When the next flush sees the running total grow by 0.5 s, only the growth is emitted; counters restart
    metrics.flush(queue_depth=0, live_sockets={"acme:0": 2}, uncovered_totals={"acme:0": 2.5})
    again = {(m["name"], m.get("shard")): m["value"] for m in emf_metrics(capsys.readouterr().out)}
    assert again[("EventsReceived", None)] == 0
    assert again[("UncoveredSeconds", "acme:0")] == 0.5
    assert metrics.totals["EventsReceived"] == 5


def test_a_stopping_worker_reports_no_socket_gauges(capsys, monkeypatch):
    """Given a worker shutting down (no sockets on purpose), the flush emits counters but no LiveSockets=0."""
    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)
    metrics = WorkerMetrics(namespace="Test")
    metrics.count("EventsStored", 3)
    metrics.flush(queue_depth=0, live_sockets=None, uncovered_totals={"acme:0": 0.0})
    names = {m["name"] for m in emf_metrics(capsys.readouterr().out)}
    assert "EventsStored" in names
    assert "LiveSockets" not in names
    assert "UncoveredSeconds" not in names


def test_evidence_hole_counts_are_emitted_per_org_for_their_alarms(capsys, monkeypatch):
    """Given quarantines and rejected topics in two orgs, each org's count is emitted with the dimensions its alarm
    reads (service, org, source), beside the fleet-wide count: one org's trouble never hides in another's."""
    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)
    metrics = WorkerMetrics(namespace="Test")
    metrics.count("Quarantined", org="acme")
    metrics.count("Quarantined", org="acme")
    metrics.count("RejectedTopics", 3, org="beta")
    metrics.flush(queue_depth=0, live_sockets={}, uncovered_totals={})
    per_org = {
        (m["name"], m["org"]): (m["value"], m["service"], m["source"])
        for m in emf_metrics(capsys.readouterr().out)
        if "org" in m
    }
    assert per_org == {
        ("Quarantined", "acme"): (2, "stream-worker", "websocket"),
        ("RejectedTopics", "beta"): (3, "stream-worker", "websocket"),
    }


def test_metrics_switched_off_print_nothing_at_all(capsys, monkeypatch):
    """Given POWERTOOLS_METRICS_DISABLED (the local stack's functions, the bench), a flush with per-shard, per-reason
    and per-org metrics prints no EMF line: Powertools' own single_metric would print them regardless."""
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    metrics = WorkerMetrics(namespace="Test")
    metrics.count("EventsStored", 3)
    metrics.rotation("socket_closing")
    metrics.flush(queue_depth=1, live_sockets={"acme:0": 2}, uncovered_totals={"acme:0": 1.0})
    assert emf_metrics(capsys.readouterr().out) == []


def test_a_one_off_metric_carries_its_own_dimensions_and_time(capsys, monkeypatch):
    """Given metrics on, a one-off metric stamped with another time is one EMF line with exactly its dimensions."""
    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)
    emit_metric("GapsRepaired", MetricUnit.Count, 2, "Test", {"service": "gap-repair", "status": "partial"},
                timestamp_ms=1_700_000_000_000)  # fmt: skip
    (line,) = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert line["_aws"]["Timestamp"] == 1_700_000_000_000
    assert line["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["service", "status"]]
    assert (line["GapsRepaired"], line["status"]) == ([2.0], "partial")


def test_counts_with_metrics_off_are_neither_kept_nor_printed(capsys, monkeypatch):
    """Given metrics off, 150 invocations' counts through add_counts leave Powertools' metric set empty and print
    nothing (Powertools' own add_metric keeps them all and prints the 100th regardless)."""
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    metrics = Metrics(namespace="Test", service="test")
    for _ in range(150):
        add_counts(metrics, {"EventsStored": 1})
        metrics.flush_metrics()
    assert metrics.metric_set == {}
    assert emf_metrics(capsys.readouterr().out) == []
