"""``python -m stream_worker``: configured by environment variables; exit 2 on invalid configuration."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys

from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter
from aws_lambda_powertools.utilities.parameters import SecretsProvider

from genesys.http import new_http_client
from stream_worker.aws import AWS_CONFIG, dynamodb_client, s3_client
from stream_worker.settings import SettingsError, load_settings
from stream_worker.worker import Worker


def configure_logging() -> None:
    """Powertools' JSON formatter on the root logger: one JSON line per record, extras included."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(LambdaPowertoolsFormatter(service="stream-worker"))
    logging.basicConfig(level=os.environ.get("LOG_LEVEL", "INFO"), handlers=[handler], force=True)


async def serve() -> int:
    import boto3

    try:
        settings = load_settings()
        secrets = SecretsProvider(boto3_client=boto3.client("secretsmanager", config=AWS_CONFIG))
        worker = Worker(settings, secrets=secrets, dynamodb=dynamodb_client(), s3=s3_client(), http=new_http_client())
    except SettingsError as exc:
        print(f"stream_worker: {exc}", file=sys.stderr)
        return 2
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, worker.request_stop)
    return await worker.run()


def main() -> int:
    configure_logging()
    return asyncio.run(serve())


if __name__ == "__main__":
    sys.exit(main())
