"""Observability defaults shared by the functions and the worker: the metrics namespace and a logging guard."""

from __future__ import annotations

import logging
import os

DEFAULT_METRICS_NAMESPACE = "GenesysNotificationBridge"
CHATTY_SDK_LOGGERS = ("botocore", "boto3", "urllib3", "s3transfer", "httpx", "httpcore", "websockets", "aws_xray_sdk")


def quiet_sdk_loggers() -> None:
    """Pin SDK loggers to WARNING whatever the root level: at DEBUG botocore logs GetSecretValue bodies."""
    for name in CHATTY_SDK_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


def metrics_namespace() -> str:
    """POWERTOOLS_METRICS_NAMESPACE, or the bridge's default: a metric must never fail for want of one."""
    return os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or DEFAULT_METRICS_NAMESPACE
