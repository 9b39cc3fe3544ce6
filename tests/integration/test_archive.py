"""The write-once archive against moto: the archiver's handler fed the tables' own streams (as Lambda's event
source mappings read them), then `genesys-bridge verify-archive` through its entry point, on the bucket and on a
downloaded folder, with each kind of tampering found and named."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import threading
import time as clock
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError

from evidence.archive import Manifest, check_chain, read_segment
from evidence.coverage import session_sort_key
from evidence.records import Received, event_item
from evidence.store import EventStore
from functions.archive_events.aws import ArchiveBucket, Chain, Signer
from functions.coverage_store import CoverageReader
from local_stack.archive import StreamPump, archiver_handler, create_archive
from local_stack.resources import StackNames, create_resources

ENTRY = shutil.which("genesys-bridge") or str(Path(os.sys.executable).with_name("genesys-bridge"))  # type: ignore[attr-defined]
NAMES = StackNames()
DAY = "2026-12-05"
T0 = 1_796_472_000.0  # 2026-12-05T12:00:00Z


@pytest.fixture
def stack(aws, monkeypatch):
    create_resources(NAMES)
    archive = create_archive(NAMES)
    handler = archiver_handler(archive, NAMES, monkeypatch.setenv)  # the CLI reads EVENTS_TABLE too
    store = EventStore.connect(NAMES.events_table, NAMES.payload_bucket)
    return archive, handler, store


def stored(store: EventStore, n: int, *, at: float = T0, raw_size: int = 0, org: str = "local") -> list[str]:
    """``n`` events written the way the worker writes them; their keys."""
    keys = []
    for i in range(n):
        body = {"id": f"u{i}", "at": at + i, "pad": secrets.token_urlsafe(raw_size) if raw_size else ""}
        envelope = {
            "topicName": f"v2.users.u{i}.presence",
            "eventBody": body,
            "metadata": {"CorrelationId": f"c{at + i}"},
        }
        received = Received.of(json.dumps(envelope), envelope, "ch-1", f"{org}:0", org, at + i, "websocket")
        item, overflow = event_item(received)
        store.put_new(received.key, item, overflow)
        keys.append(received.key)
    return keys


def verify(*extra: str, archive_bucket: str | None = "genesys-event-archive") -> tuple[int, dict]:
    argv = [ENTRY, "verify-archive", "--day", DAY, "-o", "json", "--events-table", NAMES.events_table]
    argv += ["--payload-bucket", NAMES.payload_bucket]
    if archive_bucket:
        argv += ["--archive-bucket", archive_bucket]
    done = subprocess.run([*argv, *extra], capture_output=True, text=True, timeout=120, env=dict(os.environ))
    assert done.returncode in (0, 4), done.stderr
    return done.returncode, json.loads(done.stdout)


def findings(report: dict) -> list[tuple[str, str]]:
    return [(f["check"], f["detail"]) for org in report["orgs"] for f in org["findings"]]


def download(target: Path) -> Path:
    """What an auditor gets from ``aws s3 sync``: the current version of every object."""
    s3 = boto3.client("s3")
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket="genesys-event-archive"):
        for obj in page.get("Contents", []):
            path = target / obj["Key"]
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(s3.get_object(Bucket="genesys-event-archive", Key=obj["Key"])["Body"].read())
    return target


def segment_keys() -> list[str]:
    listed = boto3.client("s3").list_objects_v2(Bucket="genesys-event-archive", Prefix="segments/")
    return sorted(o["Key"] for o in listed.get("Contents", []))


def test_every_stored_event_is_archived_once_and_the_day_verifies_online_and_offline(stack, tmp_path):
    """Given 30 events stored (one with an envelope too large for its item, kept in the payload bucket), when the
    archiver has read the stream (its batches of 10 are then handed to it a second time, as a retry would), then
    every item is archived once, byte for byte, and the day verifies online (the table compared both ways) and
    offline from a download with the public key alone."""
    archive, handler, store = stack
    keys = stored(store, 29) + stored(store, 1, at=T0 + 100, raw_size=400_000)
    pump = StreamPump(NAMES.events_table, batch_size=10)
    assert pump.pump(handler) == 30
    first_segments = segment_keys()
    replay = StreamPump(NAMES.events_table, batch_size=10)  # the same batches again, from the stream's start
    assert replay.pump(handler) == 30
    assert segment_keys() == first_segments  # nothing written twice

    code, report = verify()
    (org,) = report["orgs"]
    assert code == 0, findings(report)
    assert (org["events"], report["table_compared"], org["records"]) == (30, 30, 30)
    big = [
        line
        for key in first_segments
        for line in read_segment(boto3.client("s3").get_object(Bucket=archive.bucket, Key=key)["Body"].read())
        if line["key"] == keys[-1]
    ]
    assert len(big) == 1 and len(big[0]["envelope"]) > 400_000  # fetched from the payload bucket, kept whole

    code, offline = verify("--offline", str(download(tmp_path / "copy")), archive_bucket=None)
    assert code == 0, findings(offline)
    assert offline["mode"] == "offline" and offline["orgs"][0]["events"] == 30


def test_an_item_edited_or_deleted_in_the_table_is_archived_as_tampering(stack):
    """Given archived events, when one item's envelope is edited and another is deleted (not by TTL), then the
    archiver keeps both changes with their old images, and verify-archive names each key and what happened."""
    _, handler, store = stack
    keys = stored(store, 3)
    dynamodb = boto3.client("dynamodb")
    dynamodb.update_item(
        TableName=NAMES.events_table,
        Key={"pk": {"S": keys[0]}},
        UpdateExpression="SET envelope = :e",
        ExpressionAttributeValues={":e": {"S": '{"edited": true}'}},
    )
    dynamodb.delete_item(TableName=NAMES.events_table, Key={"pk": {"S": keys[1]}})
    StreamPump(NAMES.events_table).pump(handler)

    code, report = verify()
    assert code == 4
    found = {(f["check"], f["subject"].split()[-1], f["detail"]) for o in report["orgs"] for f in o["findings"]}
    assert ("table", keys[0], "the events table item was modified outside the bridge (attributes: envelope)") in found
    assert any(check == "table" and key == keys[1] and "deleted outside" in d for check, key, d in found)
    assert ("envelope", keys[0], "the table's envelope differs from the archived bytes") in found
    assert ("table", keys[1], "archived but missing from the events table (not by TTL)") in found


def test_a_recorded_arrival_is_the_bridge_s_own_change_not_tampering(stack):
    """Given an event whose copy from EventBridge is recorded on it (the one update writers may make), when
    archived, then the change is an arrival record and the day verifies."""
    _, handler, store = stack
    (key,) = stored(store, 1)
    boto3.client("dynamodb").update_item(
        TableName=NAMES.events_table,
        Key={"pk": {"S": key}},
        UpdateExpression="ADD arrivals_eventbridge :a",
        ExpressionAttributeValues={":a": {"SS": ["2026-12-05T12:00:00.000Z"]}},
    )
    StreamPump(NAMES.events_table).pump(handler)
    code, report = verify()
    assert code == 0, findings(report)
    assert report["orgs"][0]["records_by_type"] == {"arrival": 1, "event": 1}


def test_the_lock_refuses_deleting_an_archived_version_and_a_hidden_or_replaced_one_is_found(stack):
    """Given an archived day, when someone tries to delete a segment's version, then Object Lock refuses; when a
    delete marker hides one segment and another is overwritten with a new version, verify-archive names both."""
    _, handler, store = stack
    stored(store, 4)
    stored(store, 4, at=T0 + 600)  # a second slice: a second segment
    StreamPump(NAMES.events_table).pump(handler)
    s3 = boto3.client("s3")
    hidden, replaced = segment_keys()
    version = s3.head_object(Bucket="genesys-event-archive", Key=hidden)["VersionId"]
    with pytest.raises(ClientError) as refused:
        s3.delete_object(Bucket="genesys-event-archive", Key=hidden, VersionId=version)
    assert refused.value.response["Error"]["Code"] == "AccessDenied"

    s3.delete_object(Bucket="genesys-event-archive", Key=hidden)  # a delete marker: allowed, and visible
    s3.put_object(Bucket="genesys-event-archive", Key=replaced, Body=b"not the archived bytes")
    code, report = verify()
    assert code == 4
    found = {(f["check"], f["subject"]): f["detail"] for o in report["orgs"] for f in o["findings"]}
    assert found[("version", hidden)].startswith("deleted: a delete marker hides it")
    assert found[("version", replaced)].startswith("overwritten: the current version is")
    assert "SHA-256 differs" in found[("hash", replaced)]


def test_a_forged_removed_or_reordered_manifest_breaks_the_offline_check(stack, tmp_path):
    """Given a downloaded archive of three segments, when a manifest is forged, a segment removed, or two
    manifests swapped, then the offline check fails, naming the signature, the missing segment, or the chain."""
    _, handler, store = stack
    for n in range(3):
        stored(store, 2, at=T0 + 600 * n)
    StreamPump(NAMES.events_table).pump(handler)
    clean = download(tmp_path / "clean")
    manifests = sorted((clean / "manifests").rglob("*.json"))
    assert len(manifests) == 3

    forged = Path(shutil.copytree(clean, tmp_path / "forged"))
    target = forged / manifests[1].relative_to(clean)
    target.write_text(target.read_text().replace('"records":2', '"records":3'))
    code, report = verify("--offline", str(forged), archive_bucket=None)
    assert code == 4 and ("signature", "the signature does not match the manifest") in findings(report)

    removed = Path(shutil.copytree(clean, tmp_path / "removed"))
    name = json.loads(manifests[0].read_text())["manifest"]["segment"]["name"]
    (removed / name).unlink()
    code, report = verify("--offline", str(removed), archive_bucket=None)
    assert code == 4
    assert ("segment", "missing: the manifest names it but the archive does not hold it") in findings(report)

    reordered = Path(shutil.copytree(clean, tmp_path / "reordered"))
    a, b = (reordered / m.relative_to(clean) for m in manifests[1:])
    a_bytes, b_bytes = a.read_bytes(), b.read_bytes()
    a.write_bytes(b_bytes)
    b.write_bytes(a_bytes)
    dropped = Path(shutil.copytree(clean, tmp_path / "dropped"))
    (dropped / manifests[1].relative_to(clean)).unlink()
    code, report = verify("--offline", str(dropped), archive_bucket=None)
    assert code == 4 and any(d.endswith(": missing") for check, d in findings(report) if check == "chain")
    code, report = verify("--offline", str(reordered), archive_bucket=None)
    assert code == 4 and any(d.endswith(": reordered") for check, d in findings(report) if check == "chain")


def test_a_judged_window_joins_the_chain_as_signed_coverage(stack):
    """Given two tasks' ledger sessions around a 20 s gap in a window the auditor judged, when the archiver reads
    the coverage table's stream, then the day's signed coverage shows the window and its uncovered gap."""
    _, handler, _ = stack
    dynamodb = boto3.client("dynamodb")
    for worker, start, end in (("a", T0 - 10, T0 + 20), ("b", T0 + 40, T0 + 70)):
        dynamodb.put_item(
            TableName=NAMES.coverage_table,
            Item={
                "shard": {"S": "local:0"},
                "session": {"S": session_sort_key(start, f"ch-{worker}")},
                "start_ms": {"N": str(int(start * 1000))},
                "end_ms": {"N": str(int(end * 1000))},
                "worker": {"S": worker},
                "open": {"BOOL": False},
            },
        )
    CoverageReader(NAMES.coverage_table).record_verdict(
        "local:0", T0, end=T0 + 60, uncovered_seconds=20.0, live_tasks=1, forced=False, judged_at=T0 + 120
    )
    StreamPump(NAMES.coverage_table).pump(handler)
    code, report = verify()
    assert code == 0, findings(report)
    coverage = report["orgs"][0]["signed_coverage"]["local:0"]
    assert (coverage["windows"], coverage["covered_seconds"]) == (1, 40.0)
    (gap,) = coverage["gaps"]
    assert (gap["start"], gap["seconds"], gap["classification"]) == ("2026-12-05T12:00:20.000Z", 20.0, "uncovered")


def test_two_archivers_appending_at_once_never_share_a_sequence_and_a_crash_after_the_transaction_is_mended(stack):
    """Given two archivers of one org appending 10 manifests each from two threads, and a third whose process dies
    after its transaction but before its manifest reached the bucket, when the next append runs, then the chain
    holds 21 manifests, sequences 1..21 each once, linked, and the lost manifest written from the head's copy."""
    archive, _, _ = stack
    bucket = ArchiveBucket(archive.bucket)

    def chain(target: ArchiveBucket = bucket) -> Chain:
        return Chain(NAMES.coverage_table, target, Signer(archive.key_id), clock.time)

    def work(name: str) -> None:
        mine = chain()
        for n in range(10):
            mine.append("local", f"{name}-{n}", {"segment": {"name": f"{name}-{n}"}})

    threads = [threading.Thread(target=work, args=(name,)) for name in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)  # a loaded machine: each append is a transaction, a signature and a PUT
    assert not any(thread.is_alive() for thread in threads), "the two archivers did not finish their appends"

    class DiesBeforeWriting(ArchiveBucket):
        def put_once(self, key: str, data: bytes) -> bool:
            if key.startswith("manifests/"):
                raise SystemExit("killed")
            return super().put_once(key, data)

    with pytest.raises(SystemExit):
        chain(DiesBeforeWriting(archive.bucket)).append("local", "c-0", {"segment": {"name": "c-0"}})
    assert chain().append("local", "c-0", {"segment": {"name": "c-0"}}) is None  # a retry: chained already
    s3 = boto3.client("s3")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=archive.bucket, Prefix="manifests/local/")["Contents"]]
    manifests = [Manifest(k, s3.get_object(Bucket=archive.bucket, Key=k)["Body"].read()) for k in keys]
    assert sorted(m.sequence for m in manifests) == list(range(1, 22))
    assert check_chain(manifests, lambda statement, signature: True) == []
