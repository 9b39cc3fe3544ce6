"""``python -m stream_worker``: configured by environment variables; exit 2 on invalid configuration."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys

from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

from genesys.http import new_http_client
from stream_worker.aws import dynamodb_client, s3_client, secrets_provider
from stream_worker.settings import ConfigError, load_settings
from stream_worker.worker import Worker


def configure_logging() -> None:
    """Powertools' JSON formatter on the root logger: one JSON line per record, extras included."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(LambdaPowertoolsFormatter(service="stream-worker"))
    logging.basicConfig(level=os.environ.get("LOG_LEVEL", "INFO"), handlers=[handler], force=True)


async def serve() -> int:
    try:
        settings = load_settings()
        worker = Worker(
            settings, secrets=secrets_provider(), dynamodb=dynamodb_client(), s3=s3_client(), http=new_http_client()
        )
    except ConfigError as exc:
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
