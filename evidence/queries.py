"""Read side of the events table: the queries the design promises, all without a scan."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from boto3.dynamodb.types import TypeDeserializer

from evidence.records import entity_of, hour_buckets

_deserializer = TypeDeserializer()


def plain(item: dict[str, Any]) -> dict[str, Any]:
    """A DynamoDB item as plain Python values."""
    return {k: _deserializer.deserialize(v) for k, v in item.items()}


BATCH_GET = 100  # BatchGetItem's limit per request


class EventQueries:
    """By key from the table; by topic, entity or window from the indexes, which carry the listing attributes only
    (``pk``, ``kind``, ``topic``, ``channel_id``, ``source``, ``received_ms`` and the index key). ``full`` reads whole items."""

    def __init__(self, dynamodb: Any, table: str) -> None:
        self._dynamodb = dynamodb
        self._table = table

    def by_key(self, key: str) -> dict[str, Any] | None:
        found = self._dynamodb.get_item(TableName=self._table, Key={"pk": {"S": key}}, ConsistentRead=True)
        return plain(found["Item"]) if "Item" in found else None

    def by_topic(self, topic: str, t1: float, t2: float) -> Iterator[dict[str, Any]]:
        """The topic's entity partition, filtered to the topic (DynamoDB reads the entity's other topics too)."""
        return self._index("by_entity", "entity", entity_of(topic), t1, t2, topic=topic)

    def by_entity(self, kind: str, entity_id: str, t1: float, t2: float) -> Iterator[dict[str, Any]]:
        """kind: user, queue, conversation (or audit with "<type>/<id>")."""
        return self._index("by_entity", "entity", f"{kind}#{entity_id}", t1, t2)

    def by_conversation(self, conversation_id: str, t1: float, t2: float) -> Iterator[dict[str, Any]]:
        """Every item that names the conversation, by its topic (detail events) or its body (a user's or a queue's
        conversation topics), from the sparse ``by_conversation`` index."""
        return self._index("by_conversation", "conversation_id", conversation_id, t1, t2)

    def record_of(self, items: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
        """The whole items, in the order things happened (their event time; the receive time for items older than
        it), both paths and repeated content included: one entity's record, for an auditor."""
        return sorted(self.full(items), key=lambda i: (int(i.get("event_ms", i["received_ms"])), i["pk"]))

    def by_window(
        self, t1: float, t2: float, progress: Callable[[list[str]], Iterable[str]] = lambda steps: steps
    ) -> Iterator[dict[str, Any]]:
        """Every item received in [t1, t2] across all topics (audit export), hour bucket by hour bucket
        (``progress`` wraps the buckets, to show how far it got)."""
        for bucket in progress(hour_buckets(t1, t2)):
            yield from self._index("by_time", "time_bucket", bucket, t1, t2)

    def by_source(self, t1: float, t2: float) -> Counter[str]:
        """Events received in [t1, t2] per path that stored them first (``websocket``, ``eventbridge``), from the
        time index (it projects ``source``). Items written before the EventBridge path count as ``websocket``."""
        return Counter(
            str(i.get("source", "websocket")) for i in self.by_window(t1, t2) if i.get("kind", "event") == "event"
        )

    def full(self, items: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        """The whole items (envelope included) for index results, in their order, 100 keys per BatchGetItem."""
        batch: list[dict[str, Any]] = []
        for item in items:
            batch.append(item)
            if len(batch) == BATCH_GET:
                yield from self._batch_get(batch)
                batch = []
        if batch:
            yield from self._batch_get(batch)

    def _batch_get(self, listed: list[dict[str, Any]]) -> list[dict[str, Any]]:
        wanted: dict[str, Any] = {
            self._table: {"Keys": [{"pk": {"S": i["pk"]}} for i in listed], "ConsistentRead": True}
        }
        found: dict[str, dict[str, Any]] = {}
        while wanted:
            answer = self._dynamodb.batch_get_item(RequestItems=wanted)
            for item in answer.get("Responses", {}).get(self._table, []):
                whole = plain(item)
                found[whole["pk"]] = whole
            wanted = answer.get("UnprocessedKeys") or {}  # throttled keys come back: ask again
        return [found[i["pk"]] for i in listed if i["pk"] in found]

    def _index(
        self, index: str, attribute: str, value: str, t1: float, t2: float, topic: str | None = None
    ) -> Iterator[dict[str, Any]]:
        request: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": index,
            "KeyConditionExpression": "#p = :p AND received_ms BETWEEN :a AND :b",
            "ExpressionAttributeNames": {"#p": attribute},
            "ExpressionAttributeValues": {
                ":p": {"S": value},
                ":a": {"N": str(int(t1 * 1000))},
                ":b": {"N": str(int(t2 * 1000))},
            },
        }
        if topic is not None:
            request["FilterExpression"] = "topic = :t"
            request["ExpressionAttributeValues"][":t"] = {"S": topic}
        pages = self._dynamodb.get_paginator("query").paginate(**request)
        for page in pages:
            for item in page.get("Items", []):
                yield plain(item)
