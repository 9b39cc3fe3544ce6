"""The websocket adapter: how the worker dials a channel's ``connectUri``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import websockets
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import WebSocketException

Connect = Callable[[str], Awaitable[ClientConnection]]
MAX_FRAME = 2**24  # 16 MiB: Genesys envelopes are small, but an oversized one is quarantined, not refused
MAX_QUEUE = 64  # frames buffered per socket before reading pauses (backpressure reaches TCP)
CONNECT_ERRORS = (OSError, WebSocketException)  # the network, or the handshake (TimeoutError is an OSError)


def websocket_connector(*, keepalive: float | None, open_timeout: float) -> Connect:
    """Protocol pings every ``keepalive`` seconds on top of the session's own watchdog (they keep idle NAT and load
    balancer paths open), with no timeout: while the writer is full, reading pauses and a pong waits unread behind
    events, so the library would close a healthy socket and discard what it buffered. The session's watchdog
    judges liveness, knowing when the silence is its own."""

    async def connect(uri: str) -> ClientConnection:
        return await websockets.connect(
            uri,
            ping_interval=keepalive,
            ping_timeout=None,
            open_timeout=open_timeout,
            close_timeout=5,
            max_size=MAX_FRAME,
            max_queue=MAX_QUEUE,
        )

    return connect
