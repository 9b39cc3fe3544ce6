"""A corpus of envelopes (every topic template, sizes from tiny to past the item limit, awkward JSON) and the
items and keys the event path makes of them: the record that performance work changes no stored byte."""

from __future__ import annotations

import hashlib
import json
import random
from typing import Any

from emulator.events import EventFactory
from evidence.records import Received, event_item
from genesys.topics import TOPIC_TEMPLATES

AWKWARD_BODIES: list[Any] = [
    {"f": 1.5, "tiny": 1.5e-7, "huge": 1e16, "neg": -0.0, "exp": 123456789012345678.0, "small": 0.0001},
    {"big": 123456789012345678901234567890, "neg": -(2**63), "u64": 2**64 - 1, "over": 2**64},
    {"text": 'é 😀 \u2028 \u0000 \x1f \\ " /', "keys": {"b": 1, "B": 2, "é": 3, "": 4}},
    {"nested": [[[[{"a": [1, 2, {"b": None}]}]]]], "bools": [True, False, None]},
    [1, "two", 3.0],
    None,
    "just a string",
]


def concrete(template: str, rng: random.Random) -> str:
    return template.replace("{id}", f"{rng.getrandbits(64):016x}").replace("{event}", "acd.start")


def envelopes() -> list[tuple[str, dict[str, Any]]]:
    """(raw text, parsed envelope) pairs, deterministic."""
    rng = random.Random(20261201)
    factory = EventFactory(seed=7)
    found: list[tuple[str, dict[str, Any]]] = []
    for template in TOPIC_TEMPLATES:
        for n in range(6):
            topic = concrete(template.template, rng)
            envelope = factory.envelope(topic, 1_796_000_000.0 + n * 0.001)
            if n == 1:
                envelope.pop("metadata")
            if n == 2:  # a larger notification
                envelope["eventBody"] = {"participants": [{"id": str(i), "attrs": {"k": "v" * 40}} for i in range(40)]}
            found.append((json.dumps(envelope), envelope))
    for body in AWKWARD_BODIES:
        envelope = {"topicName": concrete("v2.users.{id}.presence", rng), "eventBody": body}
        found.append((json.dumps(envelope, ensure_ascii=False), envelope))
    huge = {"topicName": "v2.users.big.presence", "eventBody": {"blob": rng.randbytes(300_000).hex()}}
    found.append((json.dumps(huge), huge))  # past the inline limit: gzip (or S3)
    return found


def digest(value: Any) -> str:
    def plain(v: Any) -> Any:
        if isinstance(v, bytes):
            return {"bytes": v.hex()}
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        return v

    return hashlib.sha256(json.dumps(plain(value), sort_keys=True).encode()).hexdigest()


def records() -> list[dict[str, str]]:
    """Per envelope: its key, and digests of its item (attribute names, types and values) and S3 payload."""
    out: list[dict[str, str]] = []
    for n, (raw, envelope) in enumerate(envelopes()):
        received = Received.of(raw, envelope, f"channel-{n}", "org:0", "org", 1_796_000_000.123 + n * 3600.5)
        item, overflow = event_item(received, ttl_days=30 if n % 2 else None)
        out.append({"key": received.key, "item": digest(item), "overflow": digest(overflow)})
    return out


if __name__ == "__main__":  # writes the record from the code as it stands
    print(json.dumps(records(), indent=1))
