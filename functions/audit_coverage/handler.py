"""Lambda entry point, invoked by EventBridge Scheduler every window: judges every settled window of every shard
that has no verdict yet (functions/audit_coverage/auditor.py says when a window is settled).

Emits ``FleetUncoveredSeconds`` and ``FleetLiveTasks`` per shard and window (dimensions ``service=coverage-auditor``,
``shard``), stamped with the window's time: the alarms are on these, not on any one task's view.
"""

from __future__ import annotations

import time
from dataclasses import asdict
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import Field, Json

from evidence.gaps import classify, judge_spans, recorded
from evidence.queries import EventQueries
from functions.audit_coverage.auditor import AuditPolicy, ShardWindow, audit
from functions.common import FunctionEnv, RuntimeCache, observability
from functions.coverage_store import CoverageReader
from genesys.observability import emit_metric
from genesys.timefmt import parse_iso

SERVICE = "coverage-auditor"
obs = observability(SERVICE)
logger, tracer, metrics = obs.logger, obs.tracer, obs.metrics


class AuditorEnv(FunctionEnv):
    coverage_table: str = Field(min_length=1)
    events_table: str | None = Field(
        None, min_length=1, description="to classify a gap by the EventBridge deliveries in it; else uncovered"
    )
    shards: Json[tuple[str, ...]] = Field(min_length=1)
    window_seconds: float = Field(60, ge=10)
    lookback_seconds: float = Field(600, ge=60, description="unsettled windows this old are judged as they stand")
    task_silence_seconds: float = Field(60, gt=0, description="a task whose ledger is this quiet is dead")

    @property
    def policy(self) -> AuditPolicy:
        return AuditPolicy(self.window_seconds, self.lookback_seconds, self.task_silence_seconds)


class Runtime:
    def __init__(self, env: AuditorEnv) -> None:
        self.env = env
        self.reader = CoverageReader(env.coverage_table)
        self.queries = EventQueries(self.reader.client, env.events_table) if env.events_table else None


runtime = RuntimeCache(AuditorEnv, Runtime)


def scheduled_time(event: dict[str, Any], now: float) -> float:
    """The schedule's own time for this invocation (EventBridge Scheduler's ``<aws.scheduler.scheduled-time>``,
    the same on every retry); the clock only for a hand-made invocation without it."""
    value = event.get("scheduled_time") if isinstance(event, dict) else None
    return parse_iso(value).timestamp() if isinstance(value, str) and value else now


def emit(verdict: ShardWindow) -> None:
    """The verdict's metrics, stamped with the window's own time, so a late verdict lands in its own period."""
    for name, unit, value in (
        ("FleetUncoveredSeconds", MetricUnit.Seconds, verdict.uncovered_seconds),
        ("FleetLiveTasks", MetricUnit.Count, float(verdict.live_tasks)),
    ):
        emit_metric(
            name,
            unit,
            value,
            metrics.namespace,
            {"service": SERVICE, "shard": verdict.shard},
            timestamp_ms=int(verdict.start * 1000),
        )


def record_gaps(rt: Runtime, verdict: ShardWindow) -> None:
    """One gap record per uncovered interval (extending the shard's last when the outage crosses the window's
    start), classified by its org's EventBridge deliveries; what the repair function works from."""
    spans = {verdict.shard: verdict.gaps}
    judged = judge_spans(rt.queries, spans) if rt.queries is not None else classify(spans, {})
    gaps = rt.reader.gaps
    topics = len(gaps.shard_topics(verdict.shard))
    for gap in judged:
        gaps.record_gap(recorded(gap, topics))


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler(capture_response=False)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    rt = runtime()
    now = time.time()
    scheduled = scheduled_time(event, now)
    policy = rt.env.policy
    verdicts = audit(
        rt.env.shards,
        rt.reader.sessions,
        rt.reader.heartbeats(),
        lambda shard: rt.reader.judged(shard, scheduled - policy.lookback),
        scheduled=scheduled,
        now=now,
        policy=policy,
    )
    recorded = []
    for verdict in verdicts:
        if verdict.gaps:  # before the verdict, which is written once: a failure here is retried with the window
            record_gaps(rt, verdict)
        if not rt.reader.record_verdict(
            verdict.shard,
            verdict.start,
            end=verdict.end,
            uncovered_seconds=verdict.uncovered_seconds,
            live_tasks=verdict.live_tasks,
            forced=verdict.forced,
            judged_at=now,
        ):
            continue  # another run judged it first: its metric is out already
        emit(verdict)
        recorded.append(verdict)
        if verdict.uncovered_seconds:
            logger.error(
                "fleet coverage gap",
                extra={"shard": verdict.shard, "window_start": verdict.start, "uncovered_s": verdict.uncovered_seconds},
            )
    return {"scheduled": scheduled, "verdicts": [asdict(v) for v in recorded]}
