"""DynamoDB cost per stored event, from the items the worker writes and DynamoDB's published sizing rules.

- Item size: attribute name lengths (UTF-8) plus value sizes: strings in UTF-8 bytes, binary in bytes, numbers one
  byte per two significant digits plus one, booleans and nulls one byte ("Item sizes and formats", DynamoDB
  Developer Guide). Storage adds 100 bytes of overhead per item, in the table and in each index.
- Writes: a put of a new item is one write to the table and one to each index whose key attributes it has (a GSI
  is sparse), each ceil(size / 1 KB) write units; a failed conditional put still consumes write units for the item
  it found.
- The baseline is the layout before: three indexes (by topic, by entity, by time), each projecting ALL, so each
  index item was the whole item.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from emulator.events import EventFactory
from evidence.records import Item, Received, event_item
from evidence.schema import EVENTS, Index


@dataclass(frozen=True)
class Prices:
    region: str
    write_unit: float  # dollars per million write request units, on-demand
    storage_gb_month: float
    source: str


# the DynamoDB pricing page, on-demand capacity, Standard table class: the write price since AWS halved on-demand
# throughput prices on 2024-11-01
PRICES = Prices(
    region="US East (N. Virginia), us-east-1",
    write_unit=0.625,
    storage_gb_month=0.25,
    source="aws.amazon.com/dynamodb/pricing/on-demand, the prices in force since 2024-11-01",
)

BEFORE = (Index("by_topic", "topic", "received_ms"), *EVENTS.indexes)  # each projecting ALL

OVERHEAD = 100
TYPICAL_TOPICS = [
    "v2.users.6a1c1e0b-7f3e-4a5e-9a7c-2d9e1f0c3b4a.presence",
    "v2.users.6a1c1e0b-7f3e-4a5e-9a7c-2d9e1f0c3b4a.routingStatus",
    "v2.routing.queues.0b9d2c4e-1a2b-4c3d-8e9f-0a1b2c3d4e5f.conversations",
    "v2.detail.events.conversation.5e2c8a7d-3b1f-4e6a-9c0d-7f8e9a0b1c2d.acd.start",
]


def _number_size(text: str) -> int:
    digits = str(Decimal(text).normalize()).replace("-", "").replace(".", "").lstrip("0") or "0"
    digits = digits.split("E")[0]
    return math.ceil(len(digits) / 2) + 1


def value_size(value: dict[str, Any]) -> int:
    ((kind, data),) = value.items()
    if kind == "S":
        return len(str(data).encode("utf-8"))
    if kind == "N":
        return _number_size(str(data))
    if kind == "B":
        return len(data)
    if kind == "SS":  # a set: the sum of its elements' sizes
        return sum(len(v.encode("utf-8")) for v in data)
    if kind == "NS":
        return sum(_number_size(str(v)) for v in data)
    if kind == "BS":
        return sum(len(v) for v in data)
    if kind in ("BOOL", "NULL"):
        return 1
    raise ValueError(f"no size rule here for {kind}")


def item_size(item: Item) -> int:
    return sum(len(name.encode("utf-8")) + value_size(value) for name, value in item.items())


def index_items(item: Item, projection_all: bool) -> list[Item]:
    """The item as each index holds it (none where it lacks the index's keys)."""
    held = []
    for index in BEFORE if projection_all else EVENTS.indexes:
        if index.partition_key not in item or index.sort_key not in item:
            continue
        if projection_all:
            held.append(item)
            continue
        kept = {*EVENTS.keys, index.partition_key, index.sort_key, *index.carries}
        held.append({name: value for name, value in item.items() if name in kept})
    return held


def per_event(items: list[Item], projection_all: bool, duplicate_puts: float = 0.0) -> dict[str, float]:
    writes = units = stored = 0.0
    for item in items:
        size = item_size(item)
        copies = index_items(item, projection_all)
        writes += 1 + len(copies) + duplicate_puts
        units += math.ceil(size / 1024) * (1 + duplicate_puts) + sum(math.ceil(item_size(c) / 1024) for c in copies)
        stored += size + OVERHEAD + sum(item_size(c) + OVERHEAD for c in copies)
    n = len(items)
    return {"writes": writes / n, "write_units": units / n, "bytes": stored / n}


def corpus(count: int = 2000) -> list[Item]:
    """The items of typical notifications (presence, routing status, queue conversations, detail events)."""
    factory = EventFactory(seed=11)
    items = []
    for n in range(count):
        topic = TYPICAL_TOPICS[n % len(TYPICAL_TOPICS)]
        envelope = factory.envelope(topic, 1_796_000_000 + n * 0.01)
        raw = json.dumps(envelope)
        received = Received.of(raw, envelope, "streaming-0-abcdefghijklmnopqrstuvwxyz", "acme:0", "acme", 1.796e9 + n)
        items.append(event_item(received)[0])
    return items


def cost(duplicate_puts: float) -> dict[str, Any]:
    """``duplicate_puts``: failed conditional puts per stored event, as measured in the end-to-end run."""
    items = corpus()
    now = per_event(items, projection_all=False, duplicate_puts=duplicate_puts)
    before = per_event(items, projection_all=True, duplicate_puts=duplicate_puts)
    envelope = sum(len(i["envelope"]["S"].encode()) for i in items) / len(items)
    return {
        "envelope_bytes": envelope,
        "writes_per_event": now["writes"],
        "write_units_per_event": now["write_units"],
        "bytes_stored_per_event": now["bytes"],
        "bytes_stored_per_event_all_projection": before["bytes"],
        "bytes_ratio": now["bytes"] / before["bytes"],
    }
