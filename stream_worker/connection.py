"""The websocket adapter: how the worker dials a channel's ``connectUri``."""

from __future__ import annotations

import fcntl
import termios
from collections.abc import Awaitable, Callable
from typing import Any

import websockets
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import WebSocketException

Connect = Callable[[str], Awaitable[ClientConnection]]
MAX_FRAME = 2**24  # 16 MiB: Genesys envelopes are small, but an oversized one is quarantined, not refused
MAX_QUEUE = 64  # frames buffered per socket before reading pauses (backpressure reaches TCP)
CONNECT_ERRORS = (OSError, WebSocketException)  # the network, or the handshake (TimeoutError is an OSError)


def unread_bytes(ws: Any) -> int | None:
    """Bytes the kernel holds for this socket that nobody has read yet (FIONREAD); None when it cannot tell."""
    transport = getattr(ws, "transport", None)
    sock = transport.get_extra_info("socket") if transport is not None else None
    if sock is None:
        return None
    try:
        answer = fcntl.ioctl(sock.fileno(), termios.FIONREAD, b"\0\0\0\0")
    except (OSError, ValueError):  # closed, or not a socket
        return None
    return int.from_bytes(answer, "little")


def buffered_frames(ws: Any) -> int | None:
    """Frames the library has read and holds for the reader; None when it cannot tell."""
    assembler = getattr(ws, "recv_messages", None)
    frames = getattr(assembler, "frames", None)
    return None if frames is None else len(frames)


def on_pause(ws: Any, observer: Callable[[], None]) -> None:
    """Call ``observer`` whenever the library stops reading the socket because its buffer of frames is full (the
    reader is behind): frames then wait in the kernel, and read times stop saying when frames came."""
    assembler = getattr(ws, "recv_messages", None)
    pause = getattr(assembler, "pause", None)
    if assembler is None or pause is None:
        return

    def paused() -> None:
        observer()
        pause()

    assembler.pause = paused


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
