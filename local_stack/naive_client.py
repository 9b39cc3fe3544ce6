"""The client from the question: one socket, reconnect when it closes. Kept to show why the design exists."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

import httpx
import websockets

from evidence.frames import FrameKind, classify
from evidence.keys import envelope_key
from genesys.notifications import NotificationsApi
from genesys.token_secret import TokenSecret


class NaiveClient:
    def __init__(self, api_url: str, topics: list[str], read_token: Callable[[], TokenSecret]) -> None:
        self._api_url = api_url
        self._topics = topics
        self._read_token = read_token
        self._http = httpx.Client(timeout=10)
        self.keys: set[str] = set()
        self.reconnects = 0
        self.channels: list[str] = []
        self._stop = asyncio.Event()

    async def run(self) -> None:
        while not self._stop.is_set():
            try:
                token = await asyncio.to_thread(self._read_token)
                api = NotificationsApi(self._api_url, token.access_token, self._http)
                channel = await asyncio.to_thread(api.create_channel)
                await asyncio.to_thread(api.replace_subscriptions, channel.id, self._topics)
                self.channels.append(channel.id)
                async with websockets.connect(channel.connect_uri) as ws:
                    stop = asyncio.create_task(self._stop.wait())
                    while True:
                        recv = asyncio.create_task(ws.recv())
                        done, _ = await asyncio.wait({recv, stop}, return_when=asyncio.FIRST_COMPLETED)
                        if stop in done:
                            recv.cancel()
                            return
                        frame = classify(recv.result())
                        if frame.kind is FrameKind.EVENT:
                            self.keys.add(envelope_key(frame.envelope))
            except Exception:  # noqa: S110 - the naive client just reconnects, which is the point
                pass
            self.reconnects += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), 0.05)

    def stop(self) -> None:
        self._stop.set()
