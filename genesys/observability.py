"""Observability shared by the functions and the worker: the metrics namespace, one-off metrics, a logging guard."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.metrics.base import SingleMetric
from aws_lambda_powertools.metrics.functions import is_metrics_disabled

DEFAULT_METRICS_NAMESPACE = "GenesysNotificationBridge"
CHATTY_SDK_LOGGERS = ("botocore", "boto3", "urllib3", "s3transfer", "httpx", "httpcore", "websockets", "aws_xray_sdk")


def quiet_sdk_loggers() -> None:
    """Pin SDK loggers to WARNING whatever the root level: at DEBUG botocore logs GetSecretValue bodies."""
    for name in CHATTY_SDK_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


def metrics_namespace() -> str:
    """POWERTOOLS_METRICS_NAMESPACE, or the bridge's default: a metric must never fail for want of one."""
    return os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or DEFAULT_METRICS_NAMESPACE


def emit_metric(
    name: str,
    unit: MetricUnit,
    value: float,
    namespace: str,
    dimensions: Mapping[str, str],
    *,
    timestamp_ms: int | None = None,
) -> None:
    """One metric with its own dimensions, printed as one EMF line (optionally stamped with another time). Like
    Powertools' ``single_metric``, except that it honours POWERTOOLS_METRICS_DISABLED (Powertools' prints
    regardless), so a function run outside Lambda with metrics off writes nothing."""
    if is_metrics_disabled():
        return
    metric = SingleMetric(namespace=namespace)
    metric.add_metric(name=name, unit=unit, value=value)
    for dimension, dim_value in dimensions.items():
        metric.add_dimension(dimension, dim_value)
    if timestamp_ms is not None:
        metric.set_timestamp(timestamp_ms)
    print(json.dumps(metric.serialize_metric_set(), separators=(",", ":")), flush=True)


def add_counts(metrics: Metrics, counts: Mapping[str, float]) -> None:
    """Powertools' ``add_metric`` for each count, skipped when POWERTOOLS_METRICS_DISABLED: with metrics off,
    Powertools' flush keeps every value (it skips the clear), and once a metric holds 100 it prints them anyway."""
    if is_metrics_disabled():
        return
    for name, value in counts.items():
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
