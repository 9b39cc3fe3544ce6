"""Lambda entry point of the archiver, fed by two DynamoDB streams:

- the events table's: every change becomes an archive record in a segment of the Object Lock bucket, and each
  segment a signed manifest in its org's chain; a change that is neither the bridge's own (a new item, an arrival
  recorded) nor a TTL expiry is archived as tampering and counted in ``TableTampered``;
- the coverage table's, filtered to the auditor's verdicts: each judged window becomes a signed coverage manifest.

Partial batch responses (``ReportBatchItemFailures``) resend only from the first record that could not be read.
"""

from __future__ import annotations

import time
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import Field

from evidence.archive import EVENT
from evidence.coverage import fleet_coverage
from evidence.gaps import judged_gaps
from evidence.queries import EventQueries
from evidence.store import EventStore
from functions.archive_events.archiver import Archiver, BatchOutcome, judged_window
from functions.archive_events.aws import ArchiveBucket, Chain, Signer, dynamodb_client
from functions.common import FunctionEnv, RuntimeCache, observability
from functions.coverage_store import CoverageReader
from genesys.observability import emit_metric
from genesys.timefmt import iso_ms

SERVICE = "archiver"
obs = observability(SERVICE)
logger, tracer, metrics = obs.logger, obs.tracer, obs.metrics


class ArchiverEnv(FunctionEnv):
    events_table: str = Field(min_length=1)
    coverage_table: str = Field(min_length=1)
    payload_bucket: str = Field(min_length=1)
    archive_bucket: str = Field(min_length=1)
    signing_key_id: str = Field(min_length=1, description="the asymmetric KMS key (ECC_NIST_P256) that signs")
    window_seconds: float = Field(60, ge=10, description="the coverage auditor's window, for verdicts without an end")


class Runtime:
    def __init__(self, env: ArchiverEnv) -> None:
        self.env = env
        bucket = ArchiveBucket(env.archive_bucket)
        self.chain = Chain(env.coverage_table, bucket, Signer(env.signing_key_id), time.time)
        # oversized envelopes are read back the way the writers stored them (an s3:// URI on the item)
        self.archiver = Archiver(
            bucket, self.chain, EventStore.connect(env.events_table, env.payload_bucket).fetch_payload
        )
        self.coverage = CoverageReader(env.coverage_table)
        self.queries = EventQueries(dynamodb_client(), env.events_table)


runtime = RuntimeCache(ArchiverEnv, Runtime)


def _from_table(record: dict[str, Any], table: str) -> bool:
    return f":table/{table}/stream/" in str(record.get("eventSourceARN", ""))


def _emit(outcome: BatchOutcome) -> None:
    tampered = sum(outcome.tampered.values())
    if tampered:  # one alarm for the table (the org is in the log line and the archive record)
        emit_metric("TableTampered", MetricUnit.Count, tampered, metrics.namespace, {"service": SERVICE})
    emit_metric("ArchivedRecords", MetricUnit.Count, outcome.archived, metrics.namespace, {"service": SERVICE})


def archive_verdicts(rt: Runtime, records: list[dict[str, Any]]) -> int:
    """A coverage manifest per judged window: the fleet's covered intervals and each gap, classified."""
    appended = 0
    for record in records:
        judged = judged_window(record)
        if judged is None:
            continue
        shard, start, end, forced = judged
        end = end if end is not None else start + rt.env.window_seconds
        coverage = fleet_coverage(rt.coverage.sessions(shard, start, end), start, end)
        gaps = [
            {
                "start": iso_ms(g.start),
                "end": iso_ms(g.end),
                "seconds": g.seconds,
                "classification": g.classification,
                "eventbridge_events": g.eventbridge_events,
            }
            for g in judged_gaps(rt.queries, {shard: coverage})
        ]
        if rt.archiver.verdict(shard, start, end, coverage, gaps, forced) is not None:
            appended += 1
    return appended


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler(capture_response=False)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    rt = runtime()
    records = list(event.get("Records", []))
    events = [r for r in records if _from_table(r, rt.env.events_table)]
    verdicts = [r for r in records if _from_table(r, rt.env.coverage_table)]
    outcome = rt.archiver.events(events) if events else BatchOutcome()
    appended = archive_verdicts(rt, verdicts) if verdicts else 0
    _emit(outcome)
    for org, count in outcome.tampered.items():
        logger.critical("events table changed outside the bridge", extra={"org": org, "records": count})
    logger.info(
        "archived",
        extra={
            "records": outcome.archived,
            "skipped": outcome.skipped,
            "segments": outcome.segments,
            "events": outcome.by_type.get(EVENT, 0),
            "coverage_manifests": appended,
            "resend_from": outcome.failed_sequence,
        },
    )
    failures = [{"itemIdentifier": outcome.failed_sequence}] if outcome.failed_sequence else []
    return {"batchItemFailures": failures}
