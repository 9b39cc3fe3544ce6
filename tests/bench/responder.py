"""The store baseline: a minimal DynamoDB-compatible responder, so that the store's own cost is not measured.

It answers PutItem over HTTP/1.1 keep-alive as DynamoDB does for what the bench sends: 200 with ``{}``, or 400
``ConditionalCheckFailedException`` when a conditional put's key was stored before. Anything else is answered ``{}``.
It runs in its own process, so its CPU is never counted as the client's. It counts requests and the bytes of what
it stored, by table, for the cost figures.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import re
from collections import Counter
from multiprocessing.connection import Connection
from typing import Any

_PK = re.compile(rb'"pk": \{"S": "([^"]+)"\}')
_TABLE = re.compile(rb'"TableName": "([^"]+)"')
_CONFLICT = json.dumps(
    {
        "__type": "com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException",
        "message": "The conditional request failed",
    }
).encode()


class _Protocol(asyncio.Protocol):
    def __init__(self, state: _State) -> None:
        self._state = state
        self._buffer = b""
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        while True:
            head_end = self._buffer.find(b"\r\n\r\n")
            if head_end < 0:
                return
            head = self._buffer[: head_end + 2].lower()  # with the last header's line end
            at = head.find(b"content-length:")
            length = int(head[at + 15 : head.find(b"\r\n", at)].strip()) if at >= 0 else 0
            end = head_end + 4 + length
            if len(self._buffer) < end:
                return
            body, self._buffer = self._buffer[head_end + 4 : end], self._buffer[end:]
            self._answer(head, body)

    def _answer(self, head: bytes, body: bytes) -> None:
        status, payload = b"200 OK", b"{}"
        if b"putitem" in head:
            table = _TABLE.search(body)
            key = _PK.search(body)
            name = table.group(1).decode() if table else ""
            self._state.requests[name] += 1
            if key is not None and b"attribute_not_exists" in body:
                seen = self._state.keys.setdefault(name, set())
                if key.group(1) in seen:
                    status, payload = b"400 Bad Request", _CONFLICT
                    self._state.conflicts[name] += 1
                else:
                    seen.add(key.group(1))
        assert self._transport is not None
        self._transport.write(
            b"HTTP/1.1 " + status + b"\r\nContent-Type: application/x-amz-json-1.0\r\n"
            b"x-amzn-RequestId: bench\r\nContent-Length: " + str(len(payload)).encode() + b"\r\n\r\n" + payload
        )


class _State:
    def __init__(self) -> None:
        self.keys: dict[str, set[bytes]] = {}
        self.requests: Counter[str] = Counter()
        self.conflicts: Counter[str] = Counter()


def _serve(conn: Connection) -> None:
    async def main() -> None:
        state = _State()
        loop = asyncio.get_running_loop()
        server = await loop.create_server(lambda: _Protocol(state), "127.0.0.1", 0)
        conn.send(server.sockets[0].getsockname()[1])
        while True:
            command = await loop.run_in_executor(None, conn.recv)
            if command == "stop":
                break
            if command == "counts":
                conn.send({"requests": dict(state.requests), "conflicts": dict(state.conflicts)})
            elif command == "reset":
                state.keys.clear()
                state.requests.clear()
                state.conflicts.clear()
                conn.send("ok")
        server.close()

    asyncio.run(main())


class Responder:
    """``with Responder() as r:`` then point a client at ``r.url``."""

    def __init__(self) -> None:
        self._parent, child = multiprocessing.get_context("spawn").Pipe()
        self._process = multiprocessing.get_context("spawn").Process(target=_serve, args=(child,), daemon=True)
        self._child = child
        self.url = ""

    def __enter__(self) -> Responder:
        self._process.start()
        port = self._parent.recv()
        self.url = f"http://127.0.0.1:{port}"
        return self

    def __exit__(self, *exc: object) -> None:
        self._parent.send("stop")
        self._process.join(5)
        if self._process.is_alive():
            self._process.kill()

    def counts(self) -> dict[str, Any]:
        self._parent.send("counts")
        answer: dict[str, Any] = self._parent.recv()
        return answer

    def reset(self) -> None:
        self._parent.send("reset")
        self._parent.recv()
