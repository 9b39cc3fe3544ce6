"""Pure pieces of the worker: coverage arithmetic, item building, sharding and settings."""

from __future__ import annotations

import gzip
import json
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stream_worker.ledger import merge, uncovered
from stream_worker.records import ITEM_LIMIT, Received, event_item, hour_buckets, quarantine_item, time_bucket
from stream_worker.schema import TIME_SPREAD
from stream_worker.settings import SettingsError, load_settings
from stream_worker.sharding import plan_shards


def test_uncovered_lists_the_gaps_between_sessions():
    sessions = [(10.0, 20.0), (15.0, 30.0), (32.0, 40.0)]
    assert uncovered(sessions, 0.0, 50.0) == [(0.0, 10.0), (30.0, 32.0), (40.0, 50.0)]
    assert uncovered(sessions, 12.0, 29.0) == []
    assert uncovered([], 1.0, 2.0) == [(1.0, 2.0)]


intervals = st.lists(st.tuples(st.floats(0, 100), st.floats(0, 20)).map(lambda p: (p[0], p[0] + p[1])), max_size=8)


@given(sessions=intervals, t1=st.floats(0, 60), span=st.floats(0.1, 60))
def test_covered_plus_uncovered_is_the_whole_window(sessions, t1, span):
    t2 = t1 + span
    gaps = uncovered(sessions, t1, t2)
    covered = sum(max(0.0, min(e, t2) - max(s, t1)) for s, e in merge(sessions))
    assert sum(b - a for a, b in gaps) + covered == pytest.approx(span)
    assert all(t1 <= a < b <= t2 for a, b in gaps)


def _received(body: dict, topic: str = "v2.users.u1.presence") -> Received:
    envelope = {"topicName": topic, "eventBody": body, "metadata": {"CorrelationId": "c-1"}}
    return Received.of(json.dumps(envelope), envelope, "streaming-0-x", "org:0", "org", 1_800_000_000.5)


def test_event_item_has_every_attribute_the_queries_need():
    item, overflow = event_item(_received({"a": 1}, "v2.routing.queues.q7.conversations"), ttl_days=30)
    assert overflow is None
    assert item["topic"] == {"S": "v2.routing.queues.q7.conversations"}
    assert item["entity"] == {"S": "queue#q7"}
    assert item["queue_id"] == {"S": "q7"}
    assert item["received_ms"] == {"N": "1800000000500"}
    assert item["time_bucket"]["S"].startswith("2027-01-15T08#")
    assert item["correlation_id"] == {"S": "c-1"}
    assert item["expires_at"] == {"N": str(1_800_000_000 + 30 * 86_400)}
    assert json.loads(item["envelope"]["S"])["eventBody"] == {"a": 1}


def test_large_envelopes_are_compressed_and_huge_ones_overflow():
    item, overflow = event_item(_received({"text": "x" * (ITEM_LIMIT + 10)}))
    assert overflow is None
    assert "envelope" not in item
    assert json.loads(gzip.decompress(item["envelope_gz"]["B"]))["eventBody"]["text"].startswith("xxx")
    noise = random.Random(0).randbytes(450_000).hex()  # about 900 KB that gzip cannot shrink under the limit
    item, overflow = event_item(_received({"noise": noise}))
    assert overflow is not None
    assert "envelope_gz" not in item
    assert json.loads(gzip.decompress(overflow))["eventBody"]["noise"] == noise


def test_time_buckets_spread_writes_and_cover_a_window():
    keys = [f"{i:08x}" + "0" * 56 for i in range(64)]
    assert len({time_bucket(0.0, k) for k in keys}) == TIME_SPREAD
    buckets = hour_buckets(3600 * 5 + 10, 3600 * 7 - 1)
    assert len(buckets) == 2 * TIME_SPREAD
    assert time_bucket(3600 * 6 + 5, keys[3]) in buckets


def test_quarantine_items_are_keyed_by_content():
    first, _ = quarantine_item("{bad", "not valid JSON", "ch-a", "s", "o", 1.0)
    second, _ = quarantine_item("{bad", "not valid JSON", "ch-b", "s", "o", 2.0)
    assert first["pk"] == second["pk"]
    assert first["pk"]["S"].startswith("quarantine#")
    assert first["envelope"] == {"S": "{bad"}


def _env(**extra: str) -> dict[str, str]:
    orgs = [
        {
            "name": "acme",
            "environment": "mypurecloud.ie",
            "token_secret": "t",
            "templates": [{"template": "v2.users.{id}.presence", "ids": [f"u{i}" for i in range(2500)]}],
        }
    ]
    return {"WORKER_ORGS": json.dumps(orgs), "EVENTS_TABLE": "e", "COVERAGE_TABLE": "c", "PAYLOAD_BUCKET": "b", **extra}


def test_topics_are_split_into_shards_of_at_most_the_shard_size():
    shards = plan_shards(load_settings(_env()))
    assert [len(s.topics) for s in shards] == [1000, 1000, 500]
    assert [s.id for s in shards] == ["acme:0", "acme:1", "acme:2"]


def test_topics_that_do_not_fit_the_channel_budget_refuse_to_start():
    with pytest.raises(SettingsError, match=r"need 12 channels, over CHANNEL_BUDGET=10"):
        plan_shards(load_settings(_env(SHARD_SIZE="700")))


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"SOCKETS_PER_SHARD": "many"}, "SOCKETS_PER_SHARD: Input should be a valid integer"),
        ({"SHARD_SIZE": "1001"}, "SHARD_SIZE: Input should be less than or equal to 1000"),
        ({"WORKER_ORGS": "{"}, "WORKER_ORGS is not valid JSON"),
        ({"EVENTS_TABLE": ""}, "EVENTS_TABLE: Field required"),
        ({"UNKNOWN": "x", "CHANNEL_BUDGET": "30"}, "CHANNEL_BUDGET: Input should be less than or equal to 20"),
    ],
)
def test_bad_settings_name_the_variable(extra, message):
    with pytest.raises(SettingsError, match=message):
        load_settings(_env(**extra))


def test_cli_times_accept_iso_epoch_now_and_ages():
    import argparse

    from stream_worker.query_cli import parse_time

    assert parse_time("2026-11-28T10:00:00Z") == 1795860000.0
    assert parse_time("1795860000") == 1795860000.0
    assert parse_time("now", now=100.0) == 100.0
    assert parse_time("90m", now=10_000.0) == 10_000.0 - 5400
    assert parse_time("2d", now=200_000.0) == 200_000.0 - 172_800
    with pytest.raises(argparse.ArgumentTypeError, match="not a time"):
        parse_time("yesterday")


def test_worker_metrics_flush_as_emf_with_the_dimensions_alarms_use(capsys, monkeypatch):
    from stream_worker.metrics import WorkerMetrics
    from tests.conftest import emf_metrics

    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)
    metrics = WorkerMetrics(namespace="Test")
    metrics.count("EventsReceived", 5)
    metrics.rotation("socket_closing")
    metrics.add_uncovered("acme:0", 1.5)
    metrics.flush({"acme:0": 2}, queue_depth=3, uncovered_now={"acme:0": 0.5})
    found = {(m["name"], m.get("shard") or m.get("reason")): m for m in emf_metrics(capsys.readouterr().out)}
    assert found[("EventsReceived", None)]["value"] == 5
    assert found[("LiveSockets", "acme:0")]["value"] == 2
    assert found[("LiveSockets", "acme:0")]["service"] == "stream-worker"
    assert found[("UncoveredSeconds", "acme:0")]["value"] == 2.0
    assert found[("Rotations", "socket_closing")]["value"] == 1
    assert found[("QueueDepth", None)]["value"] == 3
    # counters restart after a flush; totals do not
    metrics.flush({"acme:0": 2}, queue_depth=0, uncovered_now={})
    again = {(m["name"], m.get("shard")): m["value"] for m in emf_metrics(capsys.readouterr().out)}
    assert again[("EventsReceived", None)] == 0
    assert again[("UncoveredSeconds", "acme:0")] == 0
    assert metrics.totals["EventsReceived"] == 5


async def test_a_frame_that_breaks_the_handler_is_quarantined_and_reading_goes_on():
    from typing import Any

    from genesys.token_secret import TokenSecret
    from stream_worker.session import SessionTimings, SocketSession
    from stream_worker.settings import OrgTopics
    from stream_worker.sharding import Shard

    class FlakySink:
        def __init__(self) -> None:
            self.stored: list[Any] = []
            self.quarantined: list[tuple[str, str]] = []

        async def submit(self, event: Any) -> None:
            if event.envelope["eventBody"].get("boom"):
                raise RuntimeError("storage adapter bug")
            self.stored.append(event)

        async def quarantine(self, raw: str, reason: str, *args: Any) -> None:
            self.quarantined.append((raw, reason))

    class ScriptedSocket:
        close_code, close_reason = 1000, "done"

        def __init__(self, frames: list[str]) -> None:
            self._frames = frames

        async def __aiter__(self):
            for frame in self._frames:
                yield frame

    # Given a socket whose first event makes the sink fail
    frames = [
        json.dumps({"topicName": "v2.users.u.presence", "eventBody": body}) for body in ({"boom": True}, {"n": 2})
    ]
    sink = FlakySink()
    org = OrgTopics(name="o", environment="mypurecloud.ie", token_secret="t", topics=("v2.users.u.presence",))
    session = SocketSession(
        Shard("o:0", org, org.topics),
        TokenSecret("tok", "bearer", 2e9, 1e9, "o", "mypurecloud.ie", "c"),
        api=None,  # type: ignore[arg-type]
        connect=None,  # type: ignore[arg-type]
        sink=sink,
        run_blocking=None,  # type: ignore[arg-type]
        timings=SessionTimings(1, 1, 1),
        on_rejected=lambda topics: None,
    )
    session.ws = ScriptedSocket(frames)  # type: ignore[assignment]
    # When the reader runs
    await session._read()
    # Then the bad frame is kept in quarantine, the next one is stored, and the socket ended only when it closed
    assert [reason for _, reason in sink.quarantined] == ["handler error: RuntimeError"]
    assert [e.envelope["eventBody"] for e in sink.stored] == [{"n": 2}]
    assert session.end_reason == "closed"
