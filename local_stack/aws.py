"""moto's server standing in for AWS, on a free loopback port, with boto3 pointed at it the standard way."""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import threading
from collections.abc import Callable, Iterator
from typing import Any

import httpx

_DYNAMODB_WRITES = ("put_item", "update_item", "delete_item", "transact_write_items")
_BACKEND_LOCK = threading.RLock()  # re-entrant: moto's transaction calls its own put_item and the rest


def _isolated(write: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(write)
    def locked(*args: Any, **kwargs: Any) -> Any:
        with _BACKEND_LOCK:
            return write(*args, **kwargs)

    locked.__dict__["isolated"] = True
    return locked


def isolate_dynamodb_writes() -> None:
    """Give moto's DynamoDB the isolation the service documents: a conditional write checks and writes as one
    operation, and TransactWriteItems are serializable with each other and with single-item writes (DynamoDB
    Developer Guide, "Isolation levels for DynamoDB transactions"). moto's server answers requests on threads and its
    backend takes no lock, so two archivers' transactions could both pass the same condition and take the same
    sequence; one lock over the backend's writes closes that. Idempotent."""
    from moto.dynamodb.models import DynamoDBBackend

    for name in _DYNAMODB_WRITES:
        write = getattr(DynamoDBBackend, name)
        if not getattr(write, "isolated", False):
            setattr(DynamoDBBackend, name, _isolated(write))


AWS_VARIABLES = ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION", "AWS_REGION")


@contextlib.contextmanager
def moto_server() -> Iterator[str]:
    """Start ``ThreadedMotoServer`` on 127.0.0.1 port 0; yields its endpoint URL."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one access line per request otherwise
    isolate_dynamodb_writes()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def reset(endpoint: str) -> None:
    """Empty every moto backend (they are per process, not per server)."""
    httpx.post(f"{endpoint}/moto-api/reset").raise_for_status()


def aws_environment(endpoint: str) -> dict[str, str]:
    """What boto3 needs to talk to moto: the endpoint, any credentials, one region."""
    return {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
    }


@contextlib.contextmanager
def local_aws() -> Iterator[str]:
    """moto's server, reset, with this process's environment pointed at it until the block ends."""
    with moto_server() as endpoint:
        reset(endpoint)
        saved = {k: os.environ.get(k) for k in AWS_VARIABLES}
        os.environ.update(aws_environment(endpoint))
        try:
            yield endpoint
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
