"""The archiver's logic: stream records in, segments and signed manifests out (adapters in ``aws.py``).

A batch from the events table's stream is read in stream order. When a record cannot be read yet (its overflow
envelope did not come back from S3), the records before it are archived and the batch reports that record as its
first failure, so Lambda resends it and everything after it, and nothing before it is sent twice. Writes of
segments and manifests that fail raise instead: Lambda then resends the same batch, the segments get the same
names, and those already chained are skipped.
"""

from __future__ import annotations

import base64
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol

from boto3.dynamodb.types import TypeDeserializer

from evidence.archive import (
    TAMPER,
    ArchiveError,
    Record,
    change_record,
    coverage_content,
    segments,
)
from evidence.coverage import JUDGED_PREFIX, FleetCoverage, uncovered
from evidence.gaps import org_of

_deserializer = TypeDeserializer()
UNREADABLE = "unreadable"
UNKNOWN_ORG = "_unknown"  # a record that names no org (an unreadable or foreign item) still goes to a chain


class Bucket(Protocol):
    def put(self, key: str, data: bytes, content_type: str) -> str | None: ...


class Chain(Protocol):
    def chained(self, org: str, subject: str) -> bool: ...

    def append(self, org: str, subject: str, content: dict[str, Any]) -> str | None: ...


class PayloadUnavailable(Exception):
    """An overflow envelope that could not be read now (S3 unreachable): the record is retried, not archived."""


def image(value: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A stream image (DynamoDB JSON; Lambda gives binary values base64-encoded) as plain Python values."""
    if value is None:
        return None
    return {name: _deserializer.deserialize(_binary(attr)) for name, attr in value.items()}  # type: ignore[arg-type]


def _binary(attr: Mapping[str, Any]) -> Mapping[str, Any]:
    if "B" in attr and isinstance(attr["B"], str):
        return {"B": base64.b64decode(attr["B"])}
    if "BS" in attr:
        return {"BS": [base64.b64decode(v) if isinstance(v, str) else v for v in attr["BS"]]}
    if "M" in attr:
        return {"M": {k: _binary(v) for k, v in attr["M"].items()}}
    if "L" in attr:
        return {"L": [_binary(v) for v in attr["L"]]}
    return attr


def _time(value: Any) -> float:
    return float(value) if isinstance(value, int | float | Decimal | str) else 0.0


@dataclass
class BatchOutcome:
    archived: int = 0  # records written into segments by this invocation
    skipped: int = 0  # records of segments an earlier attempt had chained
    segments: int = 0
    failed_sequence: str | None = None  # the first record Lambda must resend
    tampered: Counter[str] = field(default_factory=Counter)  # per org
    by_type: Counter[str] = field(default_factory=Counter)


class Archiver:
    def __init__(self, bucket: Bucket, chain: Chain, fetch: Callable[[str], bytes]) -> None:
        self._bucket = bucket
        self._chain = chain
        self._fetch = fetch

    def record(self, raw: Mapping[str, Any]) -> Record:
        """One stream record as an archive record; an unreadable one is kept whole with why."""
        stream = raw.get("dynamodb", {}) if isinstance(raw, Mapping) else {}
        sequence = str(stream.get("SequenceNumber", ""))
        changed_at = _time(stream.get("ApproximateCreationDateTime"))
        try:
            old, new = image(stream.get("OldImage")), image(stream.get("NewImage"))
            identity = raw.get("userIdentity") or {}
            deleted_by = str(identity.get("principalId")) if identity.get("type") == "Service" else None
            line = change_record(
                str(raw.get("eventName", "")),
                old,
                new,
                deleted_by=deleted_by,
                images=(stream.get("OldImage"), stream.get("NewImage")),
                fetch=self._fetch_payload,
            )
        except PayloadUnavailable:
            raise
        except (ArchiveError, KeyError, TypeError, ValueError) as exc:
            line = {"type": UNREADABLE, "reason": f"{type(exc).__name__}: {exc}", "stream_record": dict(raw)}
            return Record(UNKNOWN_ORG, changed_at, sequence, _stamped(line, raw))
        current = new or old or {}
        org = str(current.get("org", UNKNOWN_ORG)) or UNKNOWN_ORG
        # filed with the item it concerns (its receive time): verifying a day shows every change to that day's
        # evidence, whenever it was made (the change's own time is in the record's stream stamp)
        at = int(current["received_ms"]) / 1000 if "received_ms" in current else changed_at
        return Record(org, at, sequence, _stamped(line, raw))

    def _fetch_payload(self, key: str) -> bytes:
        try:
            return self._fetch(key)
        except Exception as exc:  # S3's own error types live in the adapter; any failure here is retried
            if getattr(exc, "response", {}).get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                raise ArchiveError(f"overflow envelope {key} is not in the payload bucket") from exc
            raise PayloadUnavailable(str(exc)) from exc

    def events(self, raws: Iterable[Mapping[str, Any]]) -> BatchOutcome:
        outcome = BatchOutcome()
        prepared: list[Record] = []
        for raw in raws:
            try:
                prepared.append(self.record(raw))
            except PayloadUnavailable:
                outcome.failed_sequence = str(raw.get("dynamodb", {}).get("SequenceNumber", ""))
                break
        for segment in segments(prepared):
            if self._chain.chained(segment.org, segment.name):
                outcome.skipped += len(segment.records)
                continue
            data = segment.body()
            version = self._bucket.put(segment.name, data, "application/gzip")
            self._chain.append(segment.org, segment.name, {"segment": segment.summary(data, version)})
            outcome.segments += 1
            outcome.archived += len(segment.records)
        for record in prepared:
            outcome.by_type[record.line["type"]] += 1
            if record.line["type"] in (TAMPER, UNREADABLE):
                outcome.tampered[record.org] += 1
        return outcome

    def verdict(
        self, shard: str, start: float, end: float, coverage: FleetCoverage, gaps: list[dict[str, Any]], forced: bool
    ) -> str | None:
        """A judged window's coverage manifest, once."""
        covered = uncovered(coverage.gaps, start, end)  # the complement of the gaps inside the window
        content = coverage_content(shard, start, end, covered, gaps, coverage.live_tasks, forced)
        return self._chain.append(org_of(shard), f"coverage#{shard}#{int(start * 1000)}", content)


def _stamped(line: dict[str, Any], raw: Mapping[str, Any]) -> dict[str, Any]:
    """Where the record sits in the table's stream: its sequence number, change and time."""
    stream = raw.get("dynamodb", {}) if isinstance(raw, Mapping) else {}
    line["stream"] = {
        "event_id": str(raw.get("eventID", "")),
        "event_name": str(raw.get("eventName", "")),
        "sequence": str(stream.get("SequenceNumber", "")),
        "changed_at": _time(stream.get("ApproximateCreationDateTime")),
    }
    return line


def judged_window(raw: Mapping[str, Any]) -> tuple[str, float, float | None, bool] | None:
    """(shard, start, end, forced) of a verdict the coverage auditor wrote, from a coverage-table stream record."""
    if raw.get("eventName") != "INSERT":
        return None
    new = image(raw.get("dynamodb", {}).get("NewImage")) or {}
    partition = str(new.get("shard", ""))
    if not partition.startswith(JUDGED_PREFIX):
        return None
    start = int(new["session"]) / 1000
    end = int(new["end_ms"]) / 1000 if "end_ms" in new else None
    return partition.removeprefix(JUDGED_PREFIX), start, end, bool(new.get("forced", False))
