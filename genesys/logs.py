"""Logging guard: SDK loggers that would print request or response bodies (tokens, secrets) at DEBUG."""

from __future__ import annotations

import logging

CHATTY_SDK_LOGGERS = ("botocore", "boto3", "urllib3", "s3transfer", "httpx", "httpcore", "websockets", "aws_xray_sdk")


def quiet_sdk_loggers() -> None:
    """Pin SDK loggers to WARNING whatever the root level: at DEBUG botocore logs GetSecretValue bodies."""
    for name in CHATTY_SDK_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
