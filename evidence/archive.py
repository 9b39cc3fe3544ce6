"""The write-once archive's formats: what a segment holds, what a manifest says, and how a chain of them is checked.

Every change the events table's stream reports becomes one archive record (a JSON line): the item as stored (an
``event`` or a ``quarantine`` frame, envelope byte for byte), an ``arrival`` (the one change the bridge makes to a
stored event: another path's or socket's arrival recorded on it), an ``expired`` item (a TTL deletion, made by the
DynamoDB service itself), or a ``tamper`` record (any other change or deletion, with the old and new images).

Records are gzipped JSON Lines in segments, one per org, time slice and stream batch, named by the first and last
stream sequence numbers they hold, so a retried batch rewrites the same names. Each segment gets a manifest (its
SHA-256, record count, first and last record, the previous manifest's SHA-256 and a sequence number), and once the
coverage auditor has judged a window, a coverage manifest states what the fleet covered in it. Manifests of one org
form one chain, each signed with an asymmetric KMS key over a short statement naming the SHA-256 of its canonical
body; anybody with the public key can check the chain offline.

Pure functions only: the archiver (functions/archive_events) and ``genesys-bridge verify-archive`` do the I/O.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from evidence.arrivals import ARRIVAL_UPDATE_ATTRIBUTES
from genesys.timefmt import iso_ms

FORMAT = "genesys-bridge-archive/1"
SIGNING_ALGORITHM: Final = "ECDSA_SHA_256"  # ECC_NIST_P256 key, KMS MessageType RAW over the statement below
SLICE_SECONDS = 300  # one segment per org, five minutes and stream batch
TTL_PRINCIPAL = "dynamodb.amazonaws.com"  # who DynamoDB names as the deleter of an item its TTL expired
PUBLIC_KEY_OBJECT = "public-key.pem"  # written beside the archive, so it can be verified from a download alone
EVENT, QUARANTINE, ARRIVAL, EXPIRED, TAMPER = "event", "quarantine", "arrival", "expired", "tamper"


class ArchiveError(ValueError):
    """A stream record the archiver cannot read (it is retried, then left in the dead-letter destination)."""


def canonical(value: Any) -> bytes:
    """The one byte form of a JSON value that is hashed and signed: sorted keys, no spaces, UTF-8."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def statement(body: Mapping[str, Any]) -> bytes:
    """What the key signs: short and fixed-size whatever the manifest holds (KMS signs at most 4 KB raw)."""
    return f"{FORMAT} manifest sha256:{sha256(canonical(body))}".encode()


# ---------------------------------------------------------------------------------------------------------------
# records


@dataclass(frozen=True)
class Record:
    """One archive line, with where it goes: the org's segment of its slice."""

    org: str
    at: float  # the slice this record belongs to: an item's receive time, else the change's time
    sequence: str  # the stream's sequence number: the record's place in the stream
    line: dict[str, Any]


def envelope_fields(item: Mapping[str, Any], fetch: Any = None) -> dict[str, str]:
    """The stored frame byte for byte: ``envelope`` (text) or ``envelope_base64`` (a frame that was not UTF-8),
    from whichever way the item keeps it (inline, gzip inline, gzip in the payload bucket)."""
    if "envelope" in item:
        return {"envelope": str(item["envelope"])}
    if "rest_record" in item:  # a reconstruction: what REST returned, never a notification's envelope
        return {"rest_record": str(item["rest_record"])}
    if "envelope_raw" in item:
        return {"envelope_base64": base64.b64encode(_bytes(item["envelope_raw"])).decode()}
    if "envelope_gz" in item:
        data = gzip.decompress(_bytes(item["envelope_gz"]))
    elif "envelope_s3" in item and fetch is not None:
        data = gzip.decompress(fetch(str(item["envelope_s3"])))
    else:
        raise ArchiveError("the item holds no envelope")
    try:
        return {"envelope": data.decode("utf-8")}
    except UnicodeDecodeError:
        return {"envelope_base64": base64.b64encode(data).decode()}


def _bytes(value: Any) -> bytes:
    return bytes(value.value if hasattr(value, "value") else value)


_KEPT = (
    "topic", "org", "shard", "source", "channel_id", "received_ms", "event_ms", "reason", "correlation_id",
    "gap_id", "api", "request",
)  # fmt: skip


def item_line(kind: str, item: Mapping[str, Any], fetch: Any = None) -> dict[str, Any]:
    """An ``event`` or ``quarantine`` record: the item's identity, paths, times and envelope as stored."""
    line: dict[str, Any] = {"type": kind, "key": str(item["pk"])}
    for name in _KEPT:
        if name in item:
            line[name] = int(item[name]) if name.endswith("_ms") else str(item[name])
    line["arrivals"] = arrivals(item)
    if "received_ms" in item:
        line["received_at"] = iso_ms(int(item["received_ms"]) / 1000)
    if "expires_at" in item:
        line["expires_at"] = int(item["expires_at"])
    line.update(envelope_fields(item, fetch))
    return line


def arrivals(item: Mapping[str, Any]) -> dict[str, list[str]]:
    return {
        name.removeprefix("arrivals_"): sorted(str(v) for v in item[name])
        for name in ARRIVAL_UPDATE_ATTRIBUTES
        if name != "pk" and name in item
    }


def changed_attributes(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    return sorted(name for name in {*old, *new} if old.get(name) != new.get(name))


def is_arrival_only(old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    """The one change the bridge makes to a stored event: arrivals added to its per-path sets, nothing removed."""
    changed = changed_attributes(old, new)
    if not changed or any(name not in ARRIVAL_UPDATE_ATTRIBUTES for name in changed):
        return False
    return all(set(old.get(name, ())) <= set(new.get(name, ())) for name in changed)


def change_record(
    name: str,
    old: Mapping[str, Any] | None,
    new: Mapping[str, Any] | None,
    *,
    deleted_by: str | None,
    images: tuple[Any, Any],
    fetch: Any = None,
) -> dict[str, Any]:
    """The archive line of one stream record of the events table (INSERT, MODIFY or REMOVE).

    ``images``: the old and new images as the stream gave them (DynamoDB JSON), kept in a tamper record verbatim.
    """
    if name == "INSERT" and new is not None:
        return item_line(str(new.get("kind", EVENT)), new, fetch)  # event, quarantine or reconstruction
    if name == "MODIFY" and old is not None and new is not None and is_arrival_only(old, new):
        before, after = arrivals(old), arrivals(new)
        added = {path: sorted(set(after[path]) - set(before.get(path, []))) for path in after}
        return {"type": ARRIVAL, "key": str(new["pk"]), "added": {p: a for p, a in added.items() if a}}
    if name == "REMOVE" and old is not None and deleted_by == TTL_PRINCIPAL:
        return {"type": EXPIRED, "key": str(old["pk"]), "expires_at": int(old.get("expires_at", 0))}
    key = str((new or old or {}).get("pk", ""))
    return {
        "type": TAMPER,
        "key": key,
        "change": "modified" if name == "MODIFY" else "deleted" if name == "REMOVE" else name.lower(),
        "changed_attributes": changed_attributes(old or {}, new or {}),
        "deleted_by": deleted_by,
        "old_image": images[0],
        "new_image": images[1],
    }


# ---------------------------------------------------------------------------------------------------------------
# segments


def slice_start(at: float) -> int:
    return int(at // SLICE_SECONDS) * SLICE_SECONDS


def segment_name(org: str, start: int, first_sequence: str, last_sequence: str) -> str:
    """``segments/<org>/<YYYY>/<MM>/<DD>/<HHMM>/<first>-<last>.jsonl.gz``: a retried batch names the same object."""
    stamp = iso_ms(start)  # YYYY-MM-DDTHH:MM:SS.mmmZ
    day = stamp[:10].replace("-", "/")
    return f"segments/{org}/{day}/{stamp[11:13]}{stamp[14:16]}/{first_sequence}-{last_sequence}.jsonl.gz"


@dataclass
class Segment:
    org: str
    start: int  # the slice's start
    records: list[Record] = field(default_factory=list)

    @property
    def name(self) -> str:
        return segment_name(self.org, self.start, self.records[0].sequence, self.records[-1].sequence)

    def body(self) -> bytes:
        """Gzipped JSON Lines, byte-identical on every rewrite (no timestamp in the gzip header)."""
        text = b"".join(canonical(r.line) + b"\n" for r in self.records)
        return gzip.compress(text, compresslevel=6, mtime=0)

    def summary(self, data: bytes, version_id: str | None) -> dict[str, Any]:
        first, last = self.records[0].line, self.records[-1].line
        return {
            "name": self.name,
            "sha256": sha256(data),
            "bytes": len(data),
            "records": len(self.records),
            "events": sum(1 for r in self.records if r.line["type"] == EVENT),
            "first": {"key": first.get("key"), "sequence": self.records[0].sequence},
            "last": {"key": last.get("key"), "sequence": self.records[-1].sequence},
            "slice": {"start": iso_ms(self.start), "end": iso_ms(self.start + SLICE_SECONDS)},
            **({"version_id": version_id} if version_id else {}),
        }


def segments(records: Iterable[Record]) -> list[Segment]:
    """Records grouped by org and slice, in stream order within each; never an empty segment."""
    grouped: dict[tuple[str, int], Segment] = {}
    for record in records:
        start = slice_start(record.at)
        grouped.setdefault((record.org, start), Segment(record.org, start)).records.append(record)
    return list(grouped.values())


def read_segment(data: bytes) -> list[dict[str, Any]]:
    return [json.loads(line) for line in gzip.decompress(data).splitlines() if line]


# ---------------------------------------------------------------------------------------------------------------
# manifests and the chain


def manifest_key(org: str, sequence: int, appended_at: float) -> str:
    """``manifests/<org>/<YYYY>/<MM>/<DD>/<sequence>.json``, by the day it joined the chain; zero-padded so that a
    listing is in chain order."""
    return f"manifests/{org}/{iso_ms(appended_at)[:10].replace('-', '/')}/{sequence:012d}.json"


def manifest_body(
    org: str, sequence: int, previous_sha256: str | None, appended_at: float, content: Mapping[str, Any]
) -> dict[str, Any]:
    """``content``: ``{"segment": {...}}`` or ``{"coverage": {...}}``."""
    return {
        "format": FORMAT,
        "org": org,
        "sequence": sequence,
        "previous_sha256": previous_sha256,
        "appended_at": iso_ms(appended_at),
        **content,
    }


def manifest_file(body: Mapping[str, Any], key_id: str, signature: bytes) -> bytes:
    """The stored manifest: its body and the signature over ``statement(body)``; the chain links these bytes."""
    signed = {"algorithm": SIGNING_ALGORITHM, "key_id": key_id, "value": base64.b64encode(signature).decode()}
    return canonical({"manifest": dict(body), "signature": signed}) + b"\n"


def coverage_content(
    shard: str,
    start: float,
    end: float,
    covered: Sequence[tuple[float, float]],
    gaps: Sequence[Mapping[str, Any]],
    live_tasks: int,
    forced: bool,
) -> dict[str, Any]:
    """What the fleet says it saw of one shard in one judged window: covered intervals, and each gap classified."""
    return {
        "coverage": {
            "shard": shard,
            "window": {"start": iso_ms(start), "end": iso_ms(end)},
            "covered": [[iso_ms(a), iso_ms(b)] for a, b in covered],
            "covered_seconds": round(sum(b - a for a, b in covered), 3),
            "gaps": [dict(g) for g in gaps],
            "live_tasks": live_tasks,
            "forced": forced,
        }
    }


@dataclass(frozen=True)
class Finding:
    """One check that failed: which object, which key (when a record), and what."""

    check: str
    subject: str
    detail: str

    def as_dict(self) -> dict[str, str]:
        return {"check": self.check, "subject": self.subject, "detail": self.detail}


@dataclass(frozen=True)
class Manifest:
    key: str  # where it is stored
    data: bytes  # as stored

    @property
    def parsed(self) -> dict[str, Any]:
        value: dict[str, Any] = json.loads(self.data)
        return value

    @property
    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = self.parsed["manifest"]
        return body

    @property
    def sequence(self) -> int:
        return int(self.body["sequence"])


def check_chain(
    manifests: Sequence[Manifest], verify_signature: Any, previous: Manifest | None = None
) -> list[Finding]:
    """Signatures, sequence and links of one org's manifests (sorted by sequence). ``verify_signature(statement,
    signature) -> bool`` holds the public key; ``previous`` is the manifest just before the first, when known."""
    findings: list[Finding] = []
    before = previous
    for manifest in sorted(manifests, key=lambda m: m.sequence):
        try:
            parsed = manifest.parsed
            body = parsed["manifest"]
            signature = base64.b64decode(parsed["signature"]["value"])
        except (ValueError, KeyError, TypeError) as exc:
            findings.append(Finding("manifest", manifest.key, f"unreadable: {exc}"))
            before = None
            continue
        if not verify_signature(statement(body), signature):
            findings.append(Finding("signature", manifest.key, "the signature does not match the manifest"))
        stored_as = manifest.key.rsplit("/", 1)[-1].removesuffix(".json")
        if stored_as.isdigit() and int(stored_as) != manifest.sequence:
            findings.append(
                Finding(
                    "chain",
                    manifest.key,
                    f"holds sequence {manifest.sequence} under the name of {int(stored_as)}: reordered",
                )
            )
        if before is not None:
            expected = before.sequence + 1
            if manifest.sequence != expected:
                findings.append(
                    Finding("chain", manifest.key, f"sequence {manifest.sequence} follows {before.sequence}: missing")
                )
            elif body.get("previous_sha256") != sha256(before.data):
                findings.append(Finding("chain", manifest.key, f"previous_sha256 does not match manifest {before.key}"))
        elif manifest.sequence == 1 and body.get("previous_sha256") is not None:
            findings.append(Finding("chain", manifest.key, "the first manifest names a previous one"))
        before = manifest
    return findings


def check_segment(
    name: str, data: bytes | None, summary: Mapping[str, Any]
) -> tuple[list[Finding], list[dict[str, Any]]]:
    """A segment object against its manifest's summary; its records when it holds."""
    if data is None:
        return [Finding("segment", name, "missing: the manifest names it but the archive does not hold it")], []
    findings = []
    if sha256(data) != summary["sha256"]:
        findings.append(Finding("hash", name, "SHA-256 differs from the manifest's: the object was replaced"))
        return findings, []
    lines = read_segment(data)
    if len(lines) != summary["records"]:
        findings.append(Finding("records", name, f"{len(lines)} records, the manifest says {summary['records']}"))
    return findings, lines
