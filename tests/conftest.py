"""Shared fixtures: an emulator factory (port 0) and small helpers for talking to it."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
import os
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
import websockets

from emulator import EmulatorConfig, EmulatorServer
from emulator.config import DEFAULT_CLIENT
from evidence.frames import Frame, FrameKind, classify
from local_stack.aws import aws_environment, moto_server, reset

CLIENT_ID, CLIENT_SECRET = DEFAULT_CLIENT
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "GenesysBridgeTest")
os.environ.setdefault("POWERTOOLS_DEV", "false")
logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto server access lines


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """moto's server standing in for AWS, on a free loopback port, shared by the session and reset per test."""
    with moto_server() as endpoint:
        yield endpoint


@pytest.fixture
def aws(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    reset(moto_endpoint)
    for name, value in aws_environment(moto_endpoint).items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    return moto_endpoint


class FakeLambdaContext:
    function_name = "test-function"
    function_version = "$LATEST"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:test-function"
    aws_request_id = "req-0001"

    def __init__(self, remaining_ms: int = 60_000) -> None:
        self._deadline = time.monotonic() + remaining_ms / 1000

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


@contextlib.contextmanager
def json_logs(*loggers: Any) -> Iterator[io.StringIO]:
    """Everything the given Powertools loggers write, formatted as in production (JSON with extras)."""
    buffer = io.StringIO()
    attached = []
    for powertools_logger in loggers:
        handler = logging.StreamHandler(buffer)
        handler.setFormatter(powertools_logger.registered_formatter)
        powertools_logger.addHandler(handler)
        attached.append((powertools_logger, handler))
    try:
        yield buffer
    finally:
        for powertools_logger, handler in attached:
            powertools_logger.removeHandler(handler)


def emf_metrics(output: str) -> list[dict[str, Any]]:
    """Every EMF metric blob printed to stdout, flattened to {name, value, dimensions...}."""
    found: list[dict[str, Any]] = []
    for line in output.splitlines():
        try:
            blob = json.loads(line)
        except ValueError:
            continue
        if not isinstance(blob, dict) or "_aws" not in blob:
            continue
        for directive in blob["_aws"]["CloudWatchMetrics"]:
            dims = {d: blob.get(d) for group in directive["Dimensions"] for d in group}
            for metric in directive["Metrics"]:
                value = blob[metric["Name"]]
                for v in value if isinstance(value, list) else [value]:
                    found.append({"name": metric["Name"], "value": v, "timestamp": blob["_aws"]["Timestamp"], **dims})
    return found


@pytest.fixture
def make_emulator() -> Iterator[Callable[..., EmulatorServer]]:
    started: list[EmulatorServer] = []

    def make(**settings: Any) -> EmulatorServer:
        settings.setdefault("event_rate", 0)
        server = EmulatorServer(EmulatorConfig(**settings)).start()
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()


@pytest.fixture
def emulator(make_emulator: Callable[..., EmulatorServer]) -> EmulatorServer:
    return make_emulator()


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=5) as client:
        yield client


def mint(http: httpx.Client, base_url: str, client_id: str = CLIENT_ID, secret: str = CLIENT_SECRET) -> str:
    response = http.post(f"{base_url}/oauth/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret))
    response.raise_for_status()
    token: str = response.json()["access_token"]
    return token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def open_channel(http: httpx.Client, base_url: str, token: str, topics: list[str]) -> dict[str, Any]:
    channel: dict[str, Any] = http.post(f"{base_url}/api/v2/notifications/channels", headers=bearer(token)).json()
    http.put(
        f"{base_url}/api/v2/notifications/channels/{channel['id']}/subscriptions",
        headers=bearer(token),
        json=[{"id": t} for t in topics],
    ).raise_for_status()
    return channel


async def next_frame(ws: Any, timeout: float = 3.0, skip: tuple[FrameKind, ...] = (FrameKind.HEARTBEAT,)) -> Frame:
    while True:
        frame = classify(await asyncio.wait_for(ws.recv(), timeout))
        if frame.kind not in skip:
            return frame


async def frames_until_closed(ws: Any, timeout: float = 5.0) -> list[Frame]:
    frames: list[Frame] = []
    try:
        while True:
            frames.append(classify(await asyncio.wait_for(ws.recv(), timeout)))
    except websockets.ConnectionClosed:
        return frames


def as_json(frame: Frame) -> str:
    return json.dumps(frame.envelope, sort_keys=True)
