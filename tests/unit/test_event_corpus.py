"""Performance work changes no stored byte: keys and items of a corpus equal the record made before it."""

from __future__ import annotations

import json
from pathlib import Path

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from evidence.records import Received, event_item
from tests.unit.corpus import envelopes, records

RECORD = Path(__file__).parent / "data" / "event_corpus.json"


def test_keys_items_and_payloads_are_byte_identical_to_the_record():
    """Given every topic template, sizes up to past the item limit, and awkward JSON, nothing stored changed."""
    expected = json.loads(RECORD.read_text())
    assert records() == expected


def test_items_are_what_boto3s_type_serializer_writes_for_their_values():
    """Given the direct attribute-value writer, each item equals TypeSerializer's rendering of its own values."""
    serializer, deserializer = TypeSerializer(), TypeDeserializer()
    for n, (raw, envelope) in enumerate(envelopes()):
        item, _ = event_item(Received.of(raw, envelope, "c", "o:0", "o", 1_796_000_000.5 + n), ttl_days=7)
        values = {name: deserializer.deserialize(value) for name, value in item.items()}
        assert item == {name: serializer.serialize(value) for name, value in values.items()}
