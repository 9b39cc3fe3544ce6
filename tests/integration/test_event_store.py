"""The conditional put against moto's DynamoDB: copies are one item, a notification whose content repeats is its
own item, and each path counts its own notifications (evidence/arrivals.py)."""

from __future__ import annotations

import boto3
import pytest

from evidence.arrivals import EVENTBRIDGE, WEBSOCKET, ordinal_key
from evidence.records import Received, event_item
from evidence.schema import EVENTS, create_table_kwargs
from evidence.store import Duplicate, EventStore, Stored

TOPIC = "v2.analytics.queues.q1.observations"
BODY = {"data": [{"metric": "oWaiting", "stats": {"count": 0}}]}


@pytest.fixture
def store(aws) -> EventStore:
    client = boto3.client("dynamodb")
    client.create_table(**create_table_kwargs("events", EVENTS))  # type: ignore[arg-type]
    return EventStore(client, boto3.client("s3"), "events", "unused")


def arrival(source: str, identity: str, at: float = 1_800_000_000.0):
    """One delivery of the notification BODY: on the websocket ``identity`` is its CorrelationId, on EventBridge
    its detail timestamp."""
    if source == WEBSOCKET:
        envelope = {"topicName": TOPIC, "eventBody": BODY, "metadata": {"CorrelationId": identity}}
    else:
        envelope = {"topicName": TOPIC, "eventBody": BODY, "metadata": {"CorrelationId": "conv"}, "timestamp": identity}
    received = Received.of("{}", envelope, "ch", "o:0", "o", at, source)
    item, _ = event_item(received)
    return received.key, item


def put(store: EventStore, source: str, identity: str):
    key, item = arrival(source, identity)
    return store.put_new(key, item, None)


def test_copies_are_one_item_and_each_repeat_is_its_own(store):
    """Given the same content sent as three notifications (c1, c2, c3), each delivered twice on the websocket, the
    table holds three items, ordinals 1 to 3, and every second delivery is a duplicate."""
    outcomes = [put(store, WEBSOCKET, c) for c in ("c1", "c1", "c2", "c2", "c3", "c3")]
    assert [type(o).__name__ for o in outcomes] == ["Stored", "Duplicate"] * 3
    assert [o.ordinal for o in outcomes if isinstance(o, Stored)] == [1, 2, 3]


def test_each_path_counts_its_own_notifications(store):
    """Given two notifications of one content on the websocket and three on EventBridge (each redelivered once),
    the table holds three items: EventBridge's first two matched the websocket's, its third is a new item."""
    key, _ = arrival(WEBSOCKET, "c1")
    assert isinstance(put(store, WEBSOCKET, "c1"), Stored)
    assert put(store, WEBSOCKET, "c2") == Stored(2)
    eventbridge = [put(store, EVENTBRIDGE, ts) for ts in ("t1", "t1", "t2", "t2", "t3", "t3")]
    assert [type(o).__name__ for o in eventbridge] == ["Duplicate"] * 4 + ["Stored", "Duplicate"]
    assert eventbridge[4] == Stored(3)
    client = boto3.client("dynamodb")
    items = [client.get_item(TableName="events", Key={"pk": {"S": ordinal_key(key, n)}})["Item"] for n in (1, 2, 3)]
    assert [sorted(i.get("arrivals_eventbridge", {}).get("SS", [])) for i in items] == [["t1"], ["t2"], ["t3"]]
    assert [i.get("arrivals_websocket", {}).get("SS") for i in items] == [["c1"], ["c2"], None]
    assert items[2]["content_key"]["S"] == key and items[2]["ordinal"]["N"] == "3"


def test_an_item_stored_before_arrivals_were_recorded_is_matched_as_before(store):
    """Given an item written by an earlier version (no arrival attributes), a websocket delivery of its content is
    its copy, as it was judged then; nothing is stored twice."""
    _, item = arrival(WEBSOCKET, "c1")
    legacy = {k: v for k, v in item.items() if k not in ("arrival", "arrivals_websocket")}
    boto3.client("dynamodb").put_item(TableName="events", Item=legacy)
    assert isinstance(put(store, WEBSOCKET, "c9"), Duplicate)
