"""Shared fixtures: an emulator factory (port 0) and small helpers for talking to it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
import websockets

from emulator import EmulatorConfig, EmulatorServer
from emulator.config import DEFAULT_CLIENT
from genesys.frames import Frame, FrameKind, classify

CLIENT_ID, CLIENT_SECRET = DEFAULT_CLIENT


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
