"""The archiver's rules on stream records, with fakes for the bucket and the chain: what is the bridge's own change,
what is a TTL expiry, what is tampering, and how a record that cannot be read yet is resent without resending what
was archived before it."""

from __future__ import annotations

import base64
import gzip
from typing import Any

from botocore.exceptions import ClientError

from evidence.archive import TTL_PRINCIPAL, read_segment
from functions.archive_events.archiver import Archiver


class FakeBucket:
    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}

    def put(self, key: str, data: bytes, content_type: str) -> str | None:
        self.objects[key] = data
        return f"v{len(self.objects)}"


class FakeChain:
    def __init__(self) -> None:
        self.appended: list[tuple[str, str, dict[str, Any]]] = []

    def chained(self, org: str, subject: str) -> bool:
        return any(s == subject for _, s, _ in self.appended)

    def append(self, org: str, subject: str, content: dict[str, Any]) -> str | None:
        self.appended.append((org, subject, content))
        return subject


def item(key: str, **extra: dict[str, Any]) -> dict[str, Any]:
    return {
        "pk": {"S": key},
        "kind": {"S": "event"},
        "org": {"S": "acme"},
        "topic": {"S": "v2.users.u1.presence"},
        "received_ms": {"N": "1796472000000"},
        "envelope": {"S": '{"topicName":"v2.users.u1.presence"}'},
        **extra,
    }


def record(seq: int, name: str, new: dict | None = None, old: dict | None = None, identity: dict | None = None):
    stream: dict[str, Any] = {"SequenceNumber": str(seq), "ApproximateCreationDateTime": 1796472100.0}
    if new is not None:
        stream["NewImage"] = new
    if old is not None:
        stream["OldImage"] = old
    return {
        "eventID": f"e{seq}",
        "eventName": name,
        "dynamodb": stream,
        **({"userIdentity": identity} if identity else {}),
    }


def archived(bucket: FakeBucket) -> list[dict[str, Any]]:
    return [line for data in bucket.objects.values() for line in read_segment(data)]


def test_a_ttl_expiry_is_recorded_as_expired_and_any_other_deletion_as_tampering():
    """Given two REMOVE records, one made by DynamoDB's TTL (the service identity) and one by a person, when
    archived, then the first is an expiry and the second tampering with the old image kept."""
    bucket, chain = FakeBucket(), FakeChain()
    outcome = Archiver(bucket, chain, lambda key: b"").events(
        [
            record(
                1,
                "REMOVE",
                old=item("k1", expires_at={"N": "1"}),
                identity={"type": "Service", "principalId": TTL_PRINCIPAL},
            ),
            record(2, "REMOVE", old=item("k2")),
        ]
    )
    lines = {line["key"]: line for line in archived(bucket)}
    assert lines["k1"]["type"] == "expired"
    assert lines["k2"]["type"] == "tamper" and lines["k2"]["change"] == "deleted"
    assert lines["k2"]["old_image"]["pk"] == {"S": "k2"}
    assert outcome.tampered == {"acme": 1}


def test_an_arrival_added_is_the_bridge_s_change_but_an_arrival_removed_is_not():
    """Given a MODIFY adding an EventBridge arrival and another removing a websocket arrival, when archived, then
    the first is an arrival record and the second tampering."""
    bucket = FakeBucket()
    before = item("k", arrivals_websocket={"SS": ["c1", "c2"]})
    added = item("k", arrivals_websocket={"SS": ["c1", "c2"]}, arrivals_eventbridge={"SS": ["t1"]})
    removed = item("k", arrivals_websocket={"SS": ["c1"]})
    outcome = Archiver(bucket, FakeChain(), lambda key: b"").events(
        [record(1, "MODIFY", new=added, old=before), record(2, "MODIFY", new=removed, old=before)]
    )
    kinds = [line["type"] for line in archived(bucket)]
    assert kinds == ["arrival", "tamper"]
    assert archived(bucket)[0]["added"] == {"eventbridge": ["t1"]}
    assert outcome.tampered == {"acme": 1}


def test_binary_and_gzipped_envelopes_are_archived_byte_for_byte():
    """Given items keeping their frame as raw bytes (not UTF-8) and gzipped inline, as Lambda delivers binary
    attributes (base64), when archived, then the bytes come back exactly."""
    raw = b"\xff\xfe not utf-8"
    packed = gzip.compress(b'{"big": true}', mtime=0)
    bucket = FakeBucket()
    binary = {k: v for k, v in item("b").items() if k != "envelope"} | {
        "envelope_raw": {"B": base64.b64encode(raw).decode()}
    }
    zipped = {k: v for k, v in item("g").items() if k != "envelope"} | {
        "envelope_gz": {"B": base64.b64encode(packed).decode()}
    }
    Archiver(bucket, FakeChain(), lambda key: b"").events(
        [record(1, "INSERT", new=binary), record(2, "INSERT", new=zipped)]
    )
    lines = {line["key"]: line for line in archived(bucket)}
    assert base64.b64decode(lines["b"]["envelope_base64"]) == raw
    assert lines["g"]["envelope"] == '{"big": true}'


def test_a_record_whose_payload_cannot_be_read_yet_is_resent_with_what_follows_and_nothing_before_twice():
    """Given a batch whose third record's oversized envelope cannot be fetched now (S3 unavailable), when archived,
    then the first two are archived, the response names the third, and a resend from it archives the rest once."""
    failing = {"now": True}

    def fetch(uri: str) -> bytes:
        if failing["now"]:
            raise ClientError({"Error": {"Code": "ServiceUnavailable", "Message": "slow down"}}, "GetObject")
        return gzip.compress(b'{"overflow": 1}', mtime=0)

    overflow = {k: v for k, v in item("k3").items() if k != "envelope"} | {"envelope_s3": {"S": "s3://b/envelopes/k3"}}
    batch = [
        record(1, "INSERT", new=item("k1")),
        record(2, "INSERT", new=item("k2")),
        record(3, "INSERT", new=overflow),
        record(4, "INSERT", new=item("k4")),
    ]
    bucket, chain = FakeBucket(), FakeChain()
    archiver = Archiver(bucket, chain, fetch)
    first = archiver.events(batch)
    assert first.failed_sequence == "3"
    assert [line["key"] for line in archived(bucket)] == ["k1", "k2"]
    failing["now"] = False
    second = archiver.events(batch[2:])  # Lambda resends from the failed record
    assert second.failed_sequence is None
    assert sorted(line["key"] for line in archived(bucket)) == ["k1", "k2", "k3", "k4"]


def test_an_overflow_envelope_missing_from_its_bucket_is_kept_as_unreadable_not_retried_forever():
    """Given an item naming an overflow envelope the payload bucket does not hold, when archived, then the record is
    kept with the reason and the stream record itself, counted as tampering, and the batch is not failed."""

    def fetch(uri: str) -> bytes:
        raise ClientError({"Error": {"Code": "NoSuchKey", "Message": "gone"}}, "GetObject")

    overflow = {k: v for k, v in item("k").items() if k != "envelope"} | {"envelope_s3": {"S": "s3://b/envelopes/k"}}
    bucket = FakeBucket()
    outcome = Archiver(bucket, FakeChain(), fetch).events([record(1, "INSERT", new=overflow)])
    (line,) = archived(bucket)
    assert line["type"] == "unreadable" and "not in the payload bucket" in line["reason"]
    assert line["stream_record"]["dynamodb"]["NewImage"]["pk"] == {"S": "k"}
    assert outcome.failed_sequence is None
