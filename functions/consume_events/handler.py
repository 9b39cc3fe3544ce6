"""Lambda entry point for the EventBridge path: an SQS batch of Genesys partner events, with partial failures.

Each record ends stored, a duplicate absorbed (the websocket copy, or a redelivery), or in quarantine with its
reason (malformed, or refused by the store for good). Only failures that can succeed later (throttling, 5xx,
network) fail the record, so SQS delivers it again; a failed record never blocks the rest of its batch.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import Field, Json

from evidence.arrivals import EVENTBRIDGE
from evidence.frames import excerpt
from evidence.records import event_item, quarantine_item
from evidence.store import Duplicate, EventStore, Rejected, Stored
from functions.common import FunctionEnv, RuntimeCache, observability
from functions.consume_events.partner_events import MalformedPartnerEvent, notification
from genesys.observability import add_counts, emit_metric

SERVICE = "eventbridge-consumer"
obs = observability(SERVICE)
logger, tracer, metrics = obs.logger, obs.tracer, obs.metrics
processor = BatchProcessor(event_type=EventType.SQS)


class ConsumerEnv(FunctionEnv):
    events_table: str = Field(min_length=1)
    payload_bucket: str = Field(min_length=1)
    sources: Json[dict[str, str]] = Field(min_length=1, description="partner event source name -> org name")
    event_ttl_days: int | None = Field(None, ge=1)


class Runtime:
    def __init__(self, env: ConsumerEnv) -> None:
        self.env = env
        self.store = EventStore.connect(env.events_table, env.payload_bucket)


runtime = RuntimeCache(ConsumerEnv, Runtime)


_tally: Counter[str] = Counter()  # this invocation's counts: one metric value each, not one per record
_received_by_org: Counter[str] = Counter()  # EventBridgeSilent-<org> needs each org's own traffic


def _count(name: str) -> None:
    _tally[name] += 1


def _quarantine(rt: Runtime, raw: str, reason: str, record: SQSRecord) -> None:
    logger.warning("partner event quarantined", extra={"reason": reason, "message_id": record.message_id})
    item, overflow = quarantine_item(
        raw, reason, f"sqs:{record.message_id}", EVENTBRIDGE, "-", time.time(), EVENTBRIDGE
    )
    outcome = rt.store.put_new(item["pk"]["S"], item, overflow)  # a transient failure raises: SQS retries
    if isinstance(outcome, Rejected):
        logger.critical("quarantine record refused by the store", extra={"reason": excerpt(outcome.reason, 300)})
    _count("Quarantined")


def record_handler(record: SQSRecord) -> None:
    rt = runtime()
    _count("EventsReceived")
    try:
        received = notification(record.body, rt.env.sources, time.time())
    except MalformedPartnerEvent as exc:
        _quarantine(rt, record.body, str(exc), record)
        return
    _received_by_org[received.org] += 1
    item, overflow = event_item(received, ttl_days=rt.env.event_ttl_days)
    outcome = rt.store.put_new(received.key, item, overflow)
    if isinstance(outcome, Stored):
        _count("EventsStored")
        if outcome.ordinal > 1:
            _count("RepeatedContent")
        _count("OnlyViaEventBridge")  # stored first here: the websocket fleet had not stored it (missed, or behind)
    elif isinstance(outcome, Duplicate):
        _count("DuplicatesAbsorbed")
    else:
        _quarantine(rt, received.raw, f"store refused the event: {outcome.reason}", record)


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    metrics.add_dimension("source", EVENTBRIDGE)
    _tally.clear()
    _received_by_org.clear()
    try:
        return process_partial_response(
            event=event, record_handler=record_handler, processor=processor, context=context
        )
    finally:
        add_counts(metrics, _tally)
        for org, value in _received_by_org.items():
            emit_metric(
                "EventsReceived",
                MetricUnit.Count,
                value,
                metrics.namespace,
                {"service": SERVICE, "org": org, "source": EVENTBRIDGE},
            )
