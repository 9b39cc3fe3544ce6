"""Event and quarantine records as DynamoDB items (pure functions, no I/O)."""

from __future__ import annotations

import functools
import gzip
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from boto3.dynamodb.types import TypeSerializer

from evidence.arrivals import NO_ID, WEBSOCKET, arrival_of, arrivals_attribute
from evidence.keys import KEY_VERSION, envelope_key
from evidence.schema import TIME_SPREAD
from genesys.timefmt import iso_ms, utc_hour
from genesys.topics import conversation_of, entity_ids

ITEM_LIMIT = 350_000  # bytes of envelope kept inline; DynamoDB's item limit is 400 KB with attributes
QUARANTINE_TOPIC = "_quarantine"
REASON_LIMIT = 500  # characters of a quarantine reason (DynamoDB messages can be long)
Item = dict[str, Any]  # DynamoDB's attribute-value form, as PutItem takes it
_serializer = TypeSerializer()
_KEY_VERSION = str(KEY_VERSION)


def to_item(values: dict[str, Any]) -> Item:
    """Plain Python values (str, int, bytes, bool) in DynamoDB's attribute-value form, as TypeSerializer writes them.

    Strings and integers, nearly every attribute of every item, are written directly: TypeSerializer's type probing
    is a fifth of the worker's CPU per event. tests/unit/test_event_corpus.py holds the two equal on a corpus.
    """
    item: Item = {}
    for name, value in values.items():
        kind = type(value)
        if kind is str:
            item[name] = {"S": value}
        elif kind is int:
            item[name] = {"N": str(value)}
        else:
            item[name] = _serializer.serialize(value)
    return item


@dataclass(slots=True)  # not frozen: made once per event, and a frozen dataclass costs 4x to build
class Received:
    """One frame as it arrived: the raw text is kept byte for byte, it is the audit evidence."""

    raw: str
    envelope: dict[str, Any]
    channel_id: str
    shard: str
    org: str
    received_at: float
    key: str  # envelope_key(envelope), computed once on arrival
    source: str = WEBSOCKET  # the path that delivered it: websocket or eventbridge
    event_at: float = 0.0  # the event's own time: EventBridge's detail.timestamp; on a socket, its receive time
    arrival: str = NO_ID  # the path's identifier of this notification (evidence/arrivals.py)

    @classmethod
    def of(
        cls,
        raw: str,
        envelope: dict[str, Any],
        channel_id: str,
        shard: str,
        org: str,
        at: float,
        source: str = "websocket",
        key: str | None = None,
        event_at: float | None = None,
    ) -> Received:
        """``key``: the envelope's event key when already known (``Frame.key``); ``event_at``: the event's own
        time when the path says it (EventBridge), else the receive time."""
        key = key or envelope_key(envelope)
        event_at = at if event_at is None else event_at
        return cls(raw, envelope, channel_id, shard, org, at, key, source, event_at, arrival_of(envelope, source))


@functools.lru_cache(maxsize=65_536)
def entity_of(topic: str) -> str:
    """The by_entity partition of a topic's events: ``user#<id>`` and the like, or ``topic#<topic>`` for a topic
    that names no entity (so that every event can be found by its topic)."""
    ids = entity_ids(topic)
    if ids:
        kind, value = next(iter(ids.items()))
        return f"{kind}#{value}"
    return f"topic#{topic}"


def time_bucket(received_at: float, key: str) -> str:
    return f"{utc_hour(received_at)}#{int(key[:8], 16) % TIME_SPREAD}"


def hour_buckets(t1: float, t2: float) -> list[str]:
    """Every time_bucket partition that can hold items received in [t1, t2]."""
    start = int(t1 // 3600) * 3600
    hours = range(start, int(t2) + 1, 3600)
    return [f"{utc_hour(h)}#{n}" for h in hours for n in range(TIME_SPREAD)]


def event_item(event: Received, *, ttl_days: int | None = None) -> tuple[Item, bytes | None]:
    """The item, and the gzip payload to put in S3 when even compressed it is too large to keep inline.

    Written directly in DynamoDB's attribute-value form, as ``to_item`` would write the same values: this runs once
    per event (tests/unit/test_event_corpus.py holds it to TypeSerializer and to a recorded corpus).
    """
    topic = str(event.envelope["topicName"])
    item: Item = {
        "pk": {"S": event.key},
        "kind": {"S": "event"},
        "topic": {"S": topic},
        "received_ms": {"N": str(int(event.received_at * 1000))},
        "received_at": {"S": iso_ms(event.received_at)},
        "event_ms": {"N": str(int(event.event_at * 1000))},
        "channel_id": {"S": event.channel_id},
        "shard": {"S": event.shard},
        "org": {"S": event.org},
        "time_bucket": {"S": time_bucket(event.received_at, event.key)},
        "source": {"S": event.source},
        "key_version": {"N": _KEY_VERSION},
        "arrival": {"S": event.arrival},
        arrivals_attribute(event.source): {"SS": [event.arrival]},
    }
    metadata = event.envelope.get("metadata")
    if isinstance(metadata, dict) and metadata.get("CorrelationId"):
        item["correlation_id"] = {"S": str(metadata["CorrelationId"])}
    ids = entity_ids(topic)
    for kind, value in ids.items():
        item[f"{kind}_id"] = {"S": value}
    conversation = conversation_of(topic, event.envelope.get("eventBody"))
    if conversation is not None:  # the by_conversation index is sparse: only conversation events cost its write
        item["conversation_id"] = {"S": conversation}
    item["entity"] = {"S": entity_of(topic)}
    if ttl_days:
        item["expires_at"] = {"N": str(int(event.received_at) + ttl_days * 86_400)}
    payload: dict[str, Any] = {}
    overflow = _attach_payload(payload, event.raw)
    item.update(to_item(payload))
    return item, overflow


def _attach_payload(values: dict[str, Any], raw: str | bytes) -> bytes | None:
    """The frame inline as text, inline as bytes (one that is not valid UTF-8, kept losslessly), gzipped, or too
    large: then the gzip is returned for S3."""
    if isinstance(raw, str) and raw.isascii() and len(raw) <= ITEM_LIMIT:
        values["envelope"] = raw  # the common frame: its length is its UTF-8 size, with no copy made to know it
        return None
    data = raw if isinstance(raw, bytes) else raw.encode("utf-8", "surrogatepass")
    if len(data) <= ITEM_LIMIT:
        if isinstance(raw, str) and _utf8(raw):
            values["envelope"] = raw
        else:
            values["envelope_raw"] = data  # a binary attribute: every byte as it came
        return None
    packed = gzip.compress(data, mtime=0)
    values["envelope_encoding"] = "gzip"
    values["envelope_bytes"] = len(data)
    if len(packed) <= ITEM_LIMIT:
        values["envelope_gz"] = packed
        return None
    return packed  # the caller stores it in S3 and sets envelope_s3


def _utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def payload_object_key(key: str) -> str:
    return f"envelopes/{key[:2]}/{key}.json.gz"


def quarantine_item(
    raw: str | bytes, reason: str, channel_id: str, shard: str, org: str, received_at: float, source: str = WEBSOCKET
) -> tuple[Item, bytes | None]:
    """A frame kept whole (inline, gzip or S3 like an envelope) under its hash, with why it is not an event item.

    ``raw`` as bytes: a frame that is not valid UTF-8, kept byte for byte."""
    data = raw if isinstance(raw, bytes) else raw.encode("utf-8", "surrogatepass")
    digest = hashlib.sha256(data).hexdigest()
    values: dict[str, Any] = {
        "pk": f"quarantine#{digest}",
        "kind": "quarantine",
        "topic": QUARANTINE_TOPIC,
        "reason": reason[:REASON_LIMIT],
        "received_ms": int(received_at * 1000),
        "received_at": iso_ms(received_at),
        "channel_id": channel_id,
        "shard": shard,
        "org": org,
        "time_bucket": time_bucket(received_at, digest),
        "source": source,
    }
    overflow = _attach_payload(values, raw)
    return to_item(values), overflow


def read_envelope(item: dict[str, Any], fetch_s3: Any = None) -> str:
    """The stored envelope text from a (deserialised, plain-Python) item, whichever way it was kept."""
    if "envelope" in item:
        return str(item["envelope"])
    if "envelope_raw" in item:  # a frame that was not valid UTF-8: shown with its bad bytes escaped
        blob = item["envelope_raw"]
        return bytes(blob.value if hasattr(blob, "value") else blob).decode("utf-8", "backslashreplace")
    if "envelope_gz" in item:
        blob = item["envelope_gz"]
        return gzip.decompress(bytes(blob.value if hasattr(blob, "value") else blob)).decode("utf-8")
    if "envelope_s3" in item and fetch_s3 is not None:
        return gzip.decompress(fetch_s3(str(item["envelope_s3"]))).decode("utf-8")
    raise KeyError("item has no envelope")


RECONSTRUCTION = "reconstruction"
REST = "rest"  # the source of a reconstruction: never a notification path


def reconstruction_item(
    key: str,
    *,
    topic: str,
    event_at: float,
    gap_id: str,
    shard: str,
    org: str,
    api: str,
    request: dict[str, Any],
    record: dict[str, Any],
    missing: list[str],
    final: bool,
    rebuilt_at: float,
) -> Item:
    """What REST gave back for a gap, kept apart from notifications: its own kind and source, no entity or
    conversation index entry (an entity's record lists notifications only), filed in the time index at the event
    time it stands for so a window's listing shows it beside its gap."""
    return to_item(
        {
            "pk": key,
            "kind": RECONSTRUCTION,
            "source": REST,
            "topic": topic,
            "received_ms": int(event_at * 1000),
            "event_ms": int(event_at * 1000),
            "received_at": iso_ms(event_at),
            "rebuilt_ms": int(rebuilt_at * 1000),
            "time_bucket": time_bucket(event_at, hashlib.sha256(key.encode()).hexdigest()),
            "gap_id": gap_id,
            "shard": shard,
            "org": org,
            "channel_id": f"rest:{gap_id}",
            "api": api,
            "request": json.dumps(request, sort_keys=True),
            "rest_record": json.dumps(record, sort_keys=True),
            "missing_fields": missing,
            "final": final,
        }
    )
