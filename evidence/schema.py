"""Table layouts, defined once: the CDK app and the local stack both build tables from these."""

from __future__ import annotations

from dataclasses import dataclass

TIME_SPREAD = 16  # write-spread partitions per hour in the time-window index


# what an index item carries besides the keys: enough to list events (the CLI's table) and to verify them; the
# envelope itself is read from the base table by key. ALL would store every envelope four times.
LISTING = ("kind", "topic", "channel_id", "source")


@dataclass(frozen=True, slots=True)
class Index:
    name: str
    partition_key: str
    sort_key: str
    sort_type: str = "N"
    carries: tuple[str, ...] = LISTING

    def non_key_attributes(self, table_keys: tuple[str, ...]) -> list[str]:
        keys = {*table_keys, self.partition_key, self.sort_key}
        return [a for a in self.carries if a not in keys]


@dataclass(frozen=True, slots=True)
class TableLayout:
    partition_key: str
    sort_key: str | None
    indexes: tuple[Index, ...]
    ttl_attribute: str | None = None

    @property
    def keys(self) -> tuple[str, ...]:
        return (self.partition_key, self.sort_key) if self.sort_key else (self.partition_key,)

    def attribute_types(self) -> dict[str, str]:
        types = {self.partition_key: "S"}
        if self.sort_key:
            types[self.sort_key] = "S"
        for index in self.indexes:
            types[index.partition_key] = "S"
            types[index.sort_key] = index.sort_type
        return types


EVENTS = TableLayout(
    partition_key="pk",  # the event key (or "quarantine#<sha256>")
    sort_key=None,
    # no by_topic index: a topic names its entity, so by_entity answers a topic's events with a filter on topic,
    # and every event costs three writes (table, by_entity, by_time), not four
    indexes=(
        Index("by_entity", "entity", "received_ms"),
        Index("by_time", "time_bucket", "received_ms"),  # "<YYYY-MM-DDTHH>#<0..15>": no single hot partition
        # sparse: only items that name a conversation (its topic or its body) are in it, and pay its write; it
        # carries the event time so a conversation's record reads in the order things happened
        Index("by_conversation", "conversation_id", "received_ms", carries=(*LISTING, "event_ms")),
    ),
    ttl_attribute="expires_at",
)

COVERAGE = TableLayout(partition_key="shard", sort_key="session", indexes=())


def create_table_kwargs(name: str, layout: TableLayout) -> dict[str, object]:
    """boto3 ``create_table`` arguments (on-demand) for the local stack and tests."""
    keys = [{"AttributeName": layout.partition_key, "KeyType": "HASH"}]
    if layout.sort_key:
        keys.append({"AttributeName": layout.sort_key, "KeyType": "RANGE"})
    kwargs: dict[str, object] = {
        "TableName": name,
        "KeySchema": keys,
        "AttributeDefinitions": [{"AttributeName": a, "AttributeType": t} for a, t in layout.attribute_types().items()],
        "BillingMode": "PAY_PER_REQUEST",
    }
    if layout.indexes:
        kwargs["GlobalSecondaryIndexes"] = [
            {
                "IndexName": i.name,
                "KeySchema": [
                    {"AttributeName": i.partition_key, "KeyType": "HASH"},
                    {"AttributeName": i.sort_key, "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": i.non_key_attributes(layout.keys)},
            }
            for i in layout.indexes
        ]
    return kwargs
