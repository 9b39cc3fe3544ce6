"""Read side of the events table: the queries the design promises, all without a scan."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from boto3.dynamodb.types import TypeDeserializer

from stream_worker.records import hour_buckets

_deserializer = TypeDeserializer()


def plain(item: dict[str, Any]) -> dict[str, Any]:
    """A DynamoDB item as plain Python values."""
    return {k: _deserializer.deserialize(v) for k, v in item.items()}


class EventQueries:
    def __init__(self, dynamodb: Any, table: str) -> None:
        self._dynamodb = dynamodb
        self._table = table

    def by_key(self, key: str) -> dict[str, Any] | None:
        found = self._dynamodb.get_item(TableName=self._table, Key={"pk": {"S": key}}, ConsistentRead=True)
        return plain(found["Item"]) if "Item" in found else None

    def by_topic(self, topic: str, t1: float, t2: float) -> Iterator[dict[str, Any]]:
        return self._index("by_topic", "topic", topic, t1, t2)

    def by_entity(self, kind: str, entity_id: str, t1: float, t2: float) -> Iterator[dict[str, Any]]:
        """kind: user, queue, conversation (or audit with "<type>/<id>")."""
        return self._index("by_entity", "entity", f"{kind}#{entity_id}", t1, t2)

    def by_window(self, t1: float, t2: float) -> Iterator[dict[str, Any]]:
        """Every item received in [t1, t2] across all topics (audit export), hour bucket by hour bucket."""
        for bucket in hour_buckets(t1, t2):
            yield from self._index("by_time", "time_bucket", bucket, t1, t2)

    def _index(self, index: str, attribute: str, value: str, t1: float, t2: float) -> Iterator[dict[str, Any]]:
        pages = self._dynamodb.get_paginator("query").paginate(
            TableName=self._table,
            IndexName=index,
            KeyConditionExpression="#p = :p AND received_ms BETWEEN :a AND :b",
            ExpressionAttributeNames={"#p": attribute},
            ExpressionAttributeValues={
                ":p": {"S": value},
                ":a": {"N": str(int(t1 * 1000))},
                ":b": {"N": str(int(t2 * 1000))},
            },
        )
        for page in pages:
            for item in page.get("Items", []):
                yield plain(item)
