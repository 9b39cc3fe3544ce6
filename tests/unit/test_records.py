"""Event and quarantine items: every attribute the queries need, large envelopes kept whole."""

from __future__ import annotations

import gzip
import json
import random

from evidence.records import ITEM_LIMIT, Received, event_item, hour_buckets, quarantine_item, time_bucket
from evidence.schema import TIME_SPREAD


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
