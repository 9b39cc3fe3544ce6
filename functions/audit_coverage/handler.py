"""Lambda entry point, invoked by EventBridge Scheduler every window: audits the last closed window of every shard.

Emits ``FleetUncoveredSeconds`` and ``FleetLiveTasks`` per shard (dimensions ``service=coverage-auditor``,
``shard``): the alarms are on these, not on any one task's view.
"""

from __future__ import annotations

import time
from dataclasses import asdict
from typing import Any

from aws_lambda_powertools import single_metric
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import Field, Json

from functions.audit_coverage.auditor import audit, closed_window
from functions.common import FunctionEnv, RuntimeCache, observability
from functions.coverage_store import CoverageReader

SERVICE = "coverage-auditor"
obs = observability(SERVICE)
logger, tracer, metrics = obs.logger, obs.tracer, obs.metrics


class AuditorEnv(FunctionEnv):
    coverage_table: str = Field(min_length=1)
    shards: Json[tuple[str, ...]] = Field(min_length=1)
    window_seconds: float = Field(60, ge=10)
    settle_seconds: float = Field(30, ge=0)


class Runtime:
    def __init__(self, env: AuditorEnv) -> None:
        self.env = env
        self.reader = CoverageReader(env.coverage_table)


runtime = RuntimeCache(AuditorEnv, Runtime)


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler(capture_response=False)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    rt = runtime()
    start, end = closed_window(time.time(), window=rt.env.window_seconds, settle=rt.env.settle_seconds)
    reports = audit(rt.env.shards, rt.reader.sessions, start, end)
    for report in reports:
        for name, unit, value in (
            ("FleetUncoveredSeconds", MetricUnit.Seconds, report.uncovered_seconds),
            ("FleetLiveTasks", MetricUnit.Count, float(report.live_tasks)),
        ):
            with single_metric(name=name, unit=unit, value=value, namespace=metrics.namespace) as metric:
                metric.add_dimension("service", SERVICE)
                metric.add_dimension("shard", report.shard)
        if report.uncovered_seconds:
            logger.error(
                "fleet coverage gap",
                extra={"shard": report.shard, "window_start": start, "uncovered_s": report.uncovered_seconds},
            )
    return {"window": [start, end], "shards": [asdict(r) for r in reports]}
