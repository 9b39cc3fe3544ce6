"""Event and quarantine records as DynamoDB items (pure functions, no I/O)."""

from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from genesys.frames import envelope_key
from genesys.topics import entity_ids
from stream_worker.schema import TIME_SPREAD

ITEM_LIMIT = 350_000  # bytes of envelope kept inline; DynamoDB's item limit is 400 KB with attributes
QUARANTINE_TOPIC = "_quarantine"
Item = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Received:
    """One frame as it arrived: the raw text is kept byte for byte, it is the audit evidence."""

    raw: str
    envelope: dict[str, Any]
    channel_id: str
    shard: str
    org: str
    received_at: float
    key: str  # envelope_key(envelope), computed once on arrival

    @classmethod
    def of(cls, raw: str, envelope: dict[str, Any], channel_id: str, shard: str, org: str, at: float) -> Received:
        return cls(raw, envelope, channel_id, shard, org, at, envelope_key(envelope))


def time_bucket(received_at: float, key: str) -> str:
    hour = datetime.fromtimestamp(received_at, UTC).strftime("%Y-%m-%dT%H")
    return f"{hour}#{int(key[:8], 16) % TIME_SPREAD}"


def hour_buckets(t1: float, t2: float) -> list[str]:
    """Every time_bucket partition that can hold items received in [t1, t2]."""
    start = int(t1 // 3600) * 3600
    hours = range(start, int(t2) + 1, 3600)
    return [f"{datetime.fromtimestamp(h, UTC).strftime('%Y-%m-%dT%H')}#{n}" for h in hours for n in range(TIME_SPREAD)]


def _s(value: str) -> dict[str, str]:
    return {"S": value}


def _n(value: float | int) -> dict[str, str]:
    return {"N": str(value)}


def event_item(event: Received, *, ttl_days: int | None = None) -> tuple[Item, bytes | None]:
    """The item, and the gzip payload to put in S3 when even compressed it is too large to keep inline."""
    key = event.key
    received_ms = int(event.received_at * 1000)
    item: Item = {
        "pk": _s(key),
        "kind": _s("event"),
        "topic": _s(str(event.envelope["topicName"])),
        "received_ms": _n(received_ms),
        "received_at": _s(datetime.fromtimestamp(event.received_at, UTC).isoformat(timespec="milliseconds")),
        "channel_id": _s(event.channel_id),
        "shard": _s(event.shard),
        "org": _s(event.org),
        "time_bucket": _s(time_bucket(event.received_at, key)),
    }
    metadata = event.envelope.get("metadata")
    if isinstance(metadata, dict) and metadata.get("CorrelationId"):
        item["correlation_id"] = _s(str(metadata["CorrelationId"]))
    ids = entity_ids(str(event.envelope["topicName"]))
    for kind, value in ids.items():
        item[f"{kind}_id"] = _s(value)
    if ids:
        kind, value = next(iter(ids.items()))
        item["entity"] = _s(f"{kind}#{value}")
    if ttl_days:
        item["expires_at"] = _n(int(event.received_at) + ttl_days * 86_400)
    overflow = _attach_payload(item, event.raw)
    return item, overflow


def _attach_payload(item: Item, raw: str) -> bytes | None:
    data = raw.encode("utf-8")
    if len(data) <= ITEM_LIMIT:
        item["envelope"] = _s(raw)
        return None
    packed = gzip.compress(data, mtime=0)
    item["envelope_encoding"] = _s("gzip")
    item["envelope_bytes"] = _n(len(data))
    if len(packed) <= ITEM_LIMIT:
        item["envelope_gz"] = {"B": packed}
        return None
    return packed  # the caller stores it in S3 and sets envelope_s3


def payload_object_key(key: str) -> str:
    return f"envelopes/{key[:2]}/{key}.json.gz"


def quarantine_item(
    raw: str, reason: str, channel_id: str, shard: str, org: str, received_at: float
) -> tuple[Item, bytes | None]:
    """A frame that is not an envelope, kept whole (inline, gzip or S3 like an envelope) under its hash."""
    digest = hashlib.sha256(raw.encode("utf-8", "replace")).hexdigest()
    item: Item = {
        "pk": _s(f"quarantine#{digest}"),
        "kind": _s("quarantine"),
        "topic": _s(QUARANTINE_TOPIC),
        "reason": _s(reason),
        "received_ms": _n(int(received_at * 1000)),
        "received_at": _s(datetime.fromtimestamp(received_at, UTC).isoformat(timespec="milliseconds")),
        "channel_id": _s(channel_id),
        "shard": _s(shard),
        "org": _s(org),
        "time_bucket": _s(time_bucket(received_at, digest)),
    }
    return item, _attach_payload(item, raw)


def read_envelope(item: dict[str, Any], fetch_s3: Any = None) -> str:
    """The stored envelope text from a (deserialised, plain-Python) item, whichever way it was kept."""
    if "envelope" in item:
        return str(item["envelope"])
    if "envelope_gz" in item:
        blob = item["envelope_gz"]
        return gzip.decompress(bytes(blob.value if hasattr(blob, "value") else blob)).decode("utf-8")
    if "envelope_s3" in item and fetch_s3 is not None:
        return gzip.decompress(fetch_s3(str(item["envelope_s3"]))).decode("utf-8")
    raise KeyError("item has no envelope")
