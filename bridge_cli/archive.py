"""`genesys-bridge verify-archive`: one day of the write-once archive checked end to end.

Works on the bucket (online: also each object's version, and the events table compared both ways) or on a folder
downloaded from it (``aws s3 sync s3://<ArchiveBucket> DIR``) with the public key alone. Every failure names its
check, the object (and the key when it is a record) and what is wrong.
"""

from __future__ import annotations

import datetime as dt
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from evidence.archive import (
    EVENT,
    PUBLIC_KEY_OBJECT,
    QUARANTINE,
    TAMPER,
    Finding,
    Manifest,
    check_chain,
    check_segment,
    envelope_fields,
)
from genesys.timefmt import parse_iso

DAY = 86_400


class ArchiveSource(Protocol):
    online: bool

    def keys(self, prefix: str) -> list[str]: ...

    def read(self, key: str) -> bytes | None: ...

    def version_state(self, key: str, version_id: str) -> str | None:
        """None when ``version_id`` is the object's current version; else what happened to it."""
        ...


class FolderSource:
    """A downloaded copy of the archive: current versions only, so version checks are not made."""

    online = False

    def __init__(self, root: Path) -> None:
        self._root = root

    def keys(self, prefix: str) -> list[str]:
        base = self._root / prefix
        if not base.is_dir():
            return []
        return sorted(str(p.relative_to(self._root)) for p in base.rglob("*") if p.is_file())

    def read(self, key: str) -> bytes | None:
        path = self._root / key
        return path.read_bytes() if path.is_file() else None

    def version_state(self, key: str, version_id: str) -> str | None:
        return None


@dataclass
class OrgResult:
    org: str
    manifests: int = 0
    segments: int = 0
    records: int = 0
    events: int = 0
    by_type: Counter[str] = field(default_factory=Counter)
    coverage: dict[str, dict[str, Any]] = field(default_factory=dict)  # shard -> signed coverage of the day
    findings: list[Finding] = field(default_factory=list)
    archived: dict[str, dict[str, Any]] = field(default_factory=dict)  # key -> the event/quarantine record

    def as_dict(self) -> dict[str, Any]:
        return {
            "org": self.org,
            "manifests": self.manifests,
            "segments": self.segments,
            "records": self.records,
            "events": self.events,
            "records_by_type": dict(sorted(self.by_type.items())),
            "signed_coverage": self.coverage,
            "findings": [f.as_dict() for f in self.findings],
            "verified": not self.findings,
        }


def signature_check(public_key_pem: bytes) -> Callable[[bytes, bytes], bool]:
    key = load_pem_public_key(public_key_pem)
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise ValueError("the archive's public key is not an elliptic-curve key")

    def verify(statement: bytes, signature: bytes) -> bool:
        try:
            key.verify(signature, statement, ec.ECDSA(hashes.SHA256()))
        except InvalidSignature:
            return False
        return True

    return verify


def _day_path(at: float) -> str:
    return dt.datetime.fromtimestamp(at, dt.UTC).strftime("%Y/%m/%d")


def orgs_of(source: ArchiveSource) -> list[str]:
    return sorted({k.split("/")[1] for k in source.keys("manifests/") if k.count("/") >= 2})


def verify_org(
    source: ArchiveSource,
    org: str,
    day: float,
    verify_signature: Callable[[bytes, bytes], bool],
) -> OrgResult:
    """Chain, signatures, segments and records of ``org`` for the UTC day starting at ``day``."""
    result = OrgResult(org)
    listed = [
        Manifest(key, data)
        for when in (day, day + DAY)  # a segment of the day's last minutes may join the chain after midnight
        for key in source.keys(f"manifests/{org}/{_day_path(when)}/")
        if (data := source.read(key)) is not None
    ]
    earlier = source.keys(f"manifests/{org}/{_day_path(day - DAY)}/")
    previous_data = source.read(earlier[-1]) if earlier else None
    previous = Manifest(earlier[-1], previous_data) if earlier and previous_data is not None else None
    result.findings.extend(check_chain(listed, verify_signature, previous))
    chained: set[str] = set()
    for manifest in listed:
        try:
            body = manifest.body
        except (ValueError, KeyError):
            continue
        if "segment" in body:
            summary = body["segment"]
            chained.add(summary["name"])
            if not (day <= parse_iso(summary["slice"]["start"]).timestamp() < day + DAY):
                continue
            result.manifests += 1
            _segment(source, summary, result)
        elif "coverage" in body:
            window = body["coverage"]
            if day <= parse_iso(window["window"]["start"]).timestamp() < day + DAY:
                result.manifests += 1
                _coverage(window, result)
    for name in source.keys(f"segments/{org}/{_day_path(day)}/"):
        if name not in chained:
            result.findings.append(Finding("chain", name, "a segment no manifest names: unchained"))
    return result


def _segment(source: ArchiveSource, summary: dict[str, Any], result: OrgResult) -> None:
    name = summary["name"]
    data = source.read(name)
    if source.online and summary.get("version_id"):
        state = source.version_state(name, summary["version_id"])
        if state is not None:
            result.findings.append(Finding("version", name, state))
    findings, lines = check_segment(name, data, summary)
    result.findings.extend(findings)
    result.segments += 1
    for line in lines:
        result.records += 1
        kind = str(line.get("type"))
        result.by_type[kind] += 1
        key = str(line.get("key", ""))
        if kind in (EVENT, QUARANTINE):
            result.events += kind == EVENT
            if key in result.archived:
                result.findings.append(Finding("duplicate", f"{name} {key}", "archived twice"))
            result.archived[key] = line
        elif kind == TAMPER:
            result.findings.append(
                Finding(
                    "table",
                    f"{name} {key}",
                    f"the events table item was {line.get('change')} outside the bridge "
                    f"(attributes: {', '.join(line.get('changed_attributes', [])) or 'all'})",
                )
            )
        elif kind == "unreadable":
            result.findings.append(
                Finding("record", name, f"a stream record the archiver could not read: {line.get('reason')}")
            )


def _coverage(window: dict[str, Any], result: OrgResult) -> None:
    shard = result.coverage.setdefault(
        window["shard"], {"windows": 0, "covered_seconds": 0.0, "gaps": [], "forced_windows": 0}
    )
    shard["windows"] += 1
    shard["covered_seconds"] = round(shard["covered_seconds"] + float(window["covered_seconds"]), 3)
    shard["forced_windows"] += bool(window.get("forced"))
    shard["gaps"].extend(window["gaps"])


def compare_table(
    result: OrgResult, items: Iterable[dict[str, Any]], fetch: Callable[[str], bytes], now: float | None = None
) -> int:
    """The day's event items of the table against the archive, both ways; how many items were compared."""
    now = time.time() if now is None else now
    seen: set[str] = set()
    for item in items:
        key = str(item["pk"])
        seen.add(key)
        archived = result.archived.get(key)
        if archived is None:
            result.findings.append(Finding("table", key, "in the events table but not in the archive"))
            continue
        stored = envelope_fields(item, fetch)
        if any(archived.get(name) != value for name, value in stored.items()):
            result.findings.append(Finding("envelope", key, "the table's envelope differs from the archived bytes"))
    for key, line in result.archived.items():
        if key in seen:
            continue
        expired = "expires_at" in line and int(line["expires_at"]) <= now
        if not expired:
            result.findings.append(Finding("table", key, "archived but missing from the events table (not by TTL)"))
    return len(seen)


def public_key_of(source: ArchiveSource, given: Path | None) -> bytes:
    if given is not None:
        return given.read_bytes()
    found = source.read(PUBLIC_KEY_OBJECT)
    if found is None:
        raise FileNotFoundError(f"no {PUBLIC_KEY_OBJECT} in the archive: pass --public-key FILE")
    return found
