"""Runs the emulator under uvicorn, in the foreground or on a background thread (tests bind port 0)."""

from __future__ import annotations

import asyncio
import socket
import threading
from concurrent.futures import Future
from typing import Any

import uvicorn

from emulator.app import build_app
from emulator.config import EmulatorConfig
from emulator.faults import apply_fault
from emulator.state import GenesysState, PublishedEvent


class EmulatorServer:
    """One emulator on one port. ``with EmulatorServer(config) as emu: emu.base_url``."""

    def __init__(self, config: EmulatorConfig | None = None, host: str = "127.0.0.1", port: int = 0) -> None:
        self.config = config or EmulatorConfig()
        self.state = GenesysState(self.config)
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((host, port))
        # listening from here: a client told the URL may connect before the server's loop runs (it waits in the
        # backlog), where a bound socket that is not yet listening refuses it
        self._sock.listen(128)
        self.host, self.port = self._sock.getsockname()[:2]
        app = build_app(self.state, self._abort_connection, self._pause_connection, self._buffered)
        uv_config = uvicorn.Config(
            app, log_level="warning", ws="websockets-sansio", lifespan="on", ws_ping_interval=None
        )
        self._server = uvicorn.Server(uv_config)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def _transport(self, client_addr: Any) -> Any:
        for connection in list(self._server.server_state.connections):
            transport = getattr(connection, "transport", None)
            if getattr(connection, "client", None) == tuple(client_addr or ()) and transport is not None:
                return transport
        return None

    def _abort_connection(self, client_addr: Any) -> bool:
        """Drop a TCP connection without a close frame, as a network failure would."""
        transport = self._transport(client_addr)
        if transport is None:
            return False
        transport.abort()
        return True

    def _buffered(self, client_addr: Any) -> int:
        """Bytes written to the connection that the client has not taken yet (0 once it is gone)."""
        transport = self._transport(client_addr)
        return 0 if transport is None or transport.is_closing() else int(transport.get_write_buffer_size())

    def _pause_connection(self, client_addr: Any, seconds: float) -> bool:
        """Stop reading a TCP connection for a while (half-open): the peer's pings and closes go unanswered."""
        transport = self._transport(client_addr)
        if transport is None or self._loop is None:
            return False
        transport.pause_reading()
        self._loop.call_later(seconds, lambda: transport.is_closing() or transport.resume_reading())
        return True

    # ---------------------------------------------------------------- running
    async def serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        await self._server.serve(sockets=[self._sock])

    def start(self) -> EmulatorServer:
        if self.state.eventbridge is not None:
            self.state.eventbridge.start()
        started = threading.Event()

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            loop.call_soon(started.set)
            loop.run_until_complete(self._server.serve(sockets=[self._sock]))
            loop.close()

        self._thread = threading.Thread(target=run, name="genesys-emulator", daemon=True)
        self._thread.start()
        started.wait(10)
        for _ in range(200):
            if self._server.started:
                return self
            threading.Event().wait(0.02)
        raise RuntimeError("emulator did not start")

    def stop(self) -> None:
        if self.state.eventbridge is not None:
            self.state.eventbridge.stop()
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(10)
        self._sock.close()

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---------------------------------------------------------------- control from Python
    def call(self, fn: Any, *args: Any) -> Any:
        """Run ``fn(*args)`` on the emulator's loop (all state lives there) and return its result."""
        if self._loop is None:
            raise RuntimeError("emulator is not running")

        async def run() -> Any:
            return fn(*args)

        future: Future[Any] = asyncio.run_coroutine_threadsafe(run(), self._loop)
        return future.result(10)

    def fault(self, type: str, **params: Any) -> dict[str, Any]:
        result: dict[str, Any] = self.call(apply_fault, self.state, {"type": type, **params})
        return result

    def events(self, since: int = 0) -> list[PublishedEvent]:
        events: list[PublishedEvent] = self.call(lambda: list(self.state.events[since:]))
        return events

    def eventbridge_paths(self) -> dict[int, list[str]]:
        """Ground truth of the second path: per event sequence number, the EventBridge ids it was delivered under."""
        return self.state.eventbridge.paths() if self.state.eventbridge is not None else {}

    def snapshot(self) -> dict[str, Any]:
        snap: dict[str, Any] = self.call(self.state.snapshot)
        return snap
