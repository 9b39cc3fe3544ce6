"""The archive on the local stack: an Object Lock bucket and an ECC signing key in moto, and the tables' streams
read the way Lambda's event source mappings read them, handed to the archiver's own handler."""

from __future__ import annotations

import base64
import datetime as dt
import logging
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, cast

import boto3

from bridge_cli.archive import compare_table, public_key_of, signature_check, verify_org
from bridge_cli.aws import BucketSource
from evidence.queries import EventQueries
from evidence.store import EventStore
from local_stack.eventbridge import LocalContext
from local_stack.resources import StackNames

log = logging.getLogger(__name__)
ARCHIVE_BUCKET = "genesys-event-archive"


@dataclass(frozen=True)
class LocalArchive:
    bucket: str
    key_id: str

    def environment(self, names: StackNames) -> dict[str, str]:
        """The archiver's environment, as the stack sets it."""
        return {
            "EVENTS_TABLE": names.events_table,
            "COVERAGE_TABLE": names.coverage_table,
            "PAYLOAD_BUCKET": names.payload_bucket,
            "ARCHIVE_BUCKET": self.bucket,
            "SIGNING_KEY_ID": self.key_id,
        }


def create_archive(names: StackNames, *, mode: str = "COMPLIANCE", days: int = 1) -> LocalArchive:
    """The bucket with Object Lock on by default (every version locked ``days`` in ``mode``), the signing key, and
    both tables' streams (new and old images)."""
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=ARCHIVE_BUCKET, ObjectLockEnabledForBucket=True)
    s3.put_object_lock_configuration(
        Bucket=ARCHIVE_BUCKET,
        ObjectLockConfiguration={
            "ObjectLockEnabled": "Enabled",
            "Rule": {"DefaultRetention": {"Mode": mode, "Days": days}},  # type: ignore[typeddict-item]
        },
    )
    key = boto3.client("kms").create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    dynamodb = boto3.client("dynamodb")
    for table in (names.events_table, names.coverage_table):
        dynamodb.update_table(
            TableName=table, StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}
        )
    return LocalArchive(ARCHIVE_BUCKET, key)


def _lambda_value(value: Any) -> Any:
    """boto3's parsed stream record in the JSON form Lambda delivers: binary as base64, times as epoch seconds."""
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, dt.datetime):
        return value.timestamp()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, dict):
        return {k: _lambda_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_lambda_value(v) for v in value]
    return value


@dataclass
class StreamPump:
    """One table's stream, read shard by shard in order from the start, as a Lambda event source mapping reads it:
    a batch whose response names a failed record is resent from that record; a batch that raises is resent whole."""

    table: str
    batch_size: int = 100
    delivered: int = 0
    # shard -> where to read next: at a failed record, or after the last record taken
    _positions: dict[str, tuple[str, str]] = field(default_factory=dict)
    # shard -> the batch an invocation raised on: resent as it was, not re-read with records that came since
    _raised: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._dynamodb = boto3.client("dynamodb")
        self._streams = boto3.client("dynamodbstreams")
        self._arn = self._dynamodb.describe_table(TableName=self.table)["Table"]["LatestStreamArn"]

    def _batches(self) -> Iterator[tuple[str, list[dict[str, Any]]]]:
        shards = self._streams.describe_stream(StreamArn=self._arn)["StreamDescription"]["Shards"]
        for shard in shards:
            shard_id = shard["ShardId"]
            if shard_id in self._raised:
                yield shard_id, self._raised[shard_id]
                continue
            position = self._positions.get(shard_id)
            iterator = self._streams.get_shard_iterator(
                StreamArn=self._arn,
                ShardId=shard_id,
                **(
                    {"ShardIteratorType": position[0], "SequenceNumber": position[1]}
                    if position
                    else {"ShardIteratorType": "TRIM_HORIZON"}
                ),
            )["ShardIterator"]
            records = self._streams.get_records(ShardIterator=iterator, Limit=self.batch_size)["Records"]
            if records:
                yield shard_id, [{**_lambda_value(r), "eventSourceARN": self._arn} for r in records]

    def pump(self, handler: Callable[[dict[str, Any], Any], dict[str, Any]], name: str = "archiver") -> int:
        """Hand batches to ``handler`` until the stream holds nothing more it takes; the records it took."""
        total = 0
        while taken := self._round(handler, name):
            total += taken
        return total

    def _round(self, handler: Callable[[dict[str, Any], Any], dict[str, Any]], name: str) -> int:
        taken = 0
        for shard_id, records in self._batches():
            self._raised[shard_id] = records
            result = handler({"Records": records}, LocalContext(name))  # raising: the same batch again next round
            del self._raised[shard_id]
            failed = [f["itemIdentifier"] for f in (result or {}).get("batchItemFailures", [])]
            sequences = [r["dynamodb"]["SequenceNumber"] for r in records]
            if failed:
                first = min(failed, key=sequences.index)
                done = sequences.index(first)
                self._positions[shard_id] = ("AT_SEQUENCE_NUMBER", first)
            else:
                done = len(records)
                self._positions[shard_id] = ("AFTER_SEQUENCE_NUMBER", sequences[-1])
            taken += done
        self.delivered += taken
        return taken


def archiver_handler(
    archive: LocalArchive, names: StackNames, setenv: Callable[[str, str], None] | None = None, **extra: str
) -> Callable[[dict[str, Any], Any], dict[str, Any]]:
    """The archiver's handler with its environment set as the stack sets it (imported as Lambda imports it);
    ``setenv`` sets each variable (a test's monkeypatch.setenv, so nothing outlives the test), else os.environ."""
    for name, value in {**archive.environment(names), **extra}.items():
        (setenv or os.environ.__setitem__)(name, value)
    from functions.archive_events.handler import handler  # after its environment, as on Lambda

    return cast("Callable[[dict[str, Any], Any], dict[str, Any]]", handler)  # Powertools' decorators: Any


class ArchiverLoop:
    """The archiver's two event source mappings on the local stack: both streams pumped every ``interval``."""

    def __init__(self, archive: LocalArchive, names: StackNames, interval: float = 5.0) -> None:
        # a line and a metric per invocation are Lambda's business; on one terminal only warnings show
        self._handler = archiver_handler(
            archive, names, POWERTOOLS_LOG_LEVEL="WARNING", POWERTOOLS_METRICS_DISABLED="true"
        )
        self._pumps = [StreamPump(names.events_table, batch_size=1000), StreamPump(names.coverage_table)]
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="archiver", daemon=True)
        self.failures = 0

    def start(self) -> ArchiverLoop:
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self.drain()

    def drain(self) -> int:
        """Everything the streams hold now, archived; a failed invocation is logged and retried next round."""
        taken = 0
        for pump in self._pumps:
            try:
                taken += pump.pump(self._handler)
            except Exception:  # as Lambda does: the batch comes back; here on the next round
                log.exception("archiver invocation failed; its batch is read again")
                self.failures += 1
        return taken

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=60)
        self.drain()  # what the last writes put in the streams


@dataclass(frozen=True)
class ArchiveCheck:
    segments: int
    event_keys: list[str]  # every archived event record's key (a key twice would be a duplicate)
    findings: list[str]


def check_archive(archive: LocalArchive, names: StackNames, since: float, until: float) -> ArchiveCheck:
    """verify-archive's own checks over the days [since, until] touches, the table compared both ways. The local
    table holds nothing outside [since, until], so only those hours of it are read (moto sorts the whole table for
    every index query)."""
    days = sorted({int(t // 86_400) * 86_400.0 for t in (since, until)})
    s3, dynamodb = boto3.client("s3"), boto3.client("dynamodb")
    source = BucketSource(s3, archive.bucket)
    verify = signature_check(public_key_of(source, None))
    queries = EventQueries(dynamodb, names.events_table)
    store = EventStore(dynamodb, s3, names.events_table, names.payload_bucket)
    segments, keys, findings = 0, [], []
    for day in days:
        result = verify_org(source, names.org, day, verify)
        hours = queries.by_window(max(day, since), min(day + 86_400, until))
        items = [i for i in hours if i.get("kind", "event") in ("event", "quarantine")]
        compare_table(result, queries.full(items), store.fetch_payload)
        segments += result.segments
        keys += [k for k, line in result.archived.items() if line["type"] == "event"]
        findings += [f"[{f.check}] {f.subject}: {f.detail}" for f in result.findings]
    return ArchiveCheck(segments, keys, findings)
