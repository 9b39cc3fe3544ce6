"""One notification channel with one websocket: open, confirm, read, watch liveness, retire.

A session never decides to rotate; it reports. ``wants_rotation`` is set with a reason when the socket is still
alive but should be replaced (socket_closing, no_longer_subscribed, token_revoked); ``ended`` is set when it is
dead (closed, dropped, evicted, liveness). The supervisor acts on both.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any, Protocol

from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from evidence.frames import FrameKind, classify
from evidence.records import Received
from genesys.models import Channel, ChannelTopic
from genesys.notifications import NotificationsApi
from genesys.streaming import PING_FRAME
from genesys.token_secret import TokenSecret
from stream_worker.connection import Connect, buffered_frames, on_pause, unread_bytes
from stream_worker.sharding import Shard

log = logging.getLogger(__name__)


class FrameSink(Protocol):
    async def submit(self, event: Received) -> bool:
        """Hand the event over; True when it had to wait for room (the writer's queue was full)."""
        ...

    async def quarantine(
        self, raw: str | bytes, reason: str, channel_id: str, shard: str, org: str, at: float
    ) -> None: ...


@dataclass(frozen=True, slots=True)
class SessionTimings:
    ping_after: float
    liveness_timeout: float
    confirm_timeout: float
    touch_interval: float = 10.0  # a ping at least this often: the channel stays "recently used", the ledger fresh
    delivery_allowance: float = 1.0  # a frame received at t proves what was sent until t minus this, no later


class SessionOpenError(Exception):
    """The session could not be confirmed; nothing of it is left running."""


ABNORMAL_CLOSURE = 1006  # RFC 6455: the connection ended without a close frame
CLOSE_WAIT = 5.0  # seconds a retirement waits for the server's close frame before dropping the connection


class SessionLog(logging.LoggerAdapter[logging.Logger]):
    """Every line of one socket's life carries its shard, slot and channel, so the life can be followed."""

    def __init__(self, logger: logging.Logger, session: SocketSession) -> None:
        super().__init__(logger, {})
        self._session = session

    def process(self, msg: Any, kwargs: MutableMapping[str, Any]) -> tuple[Any, MutableMapping[str, Any]]:
        session = self._session
        context = {"shard": session.shard.id, "slot": session.slot, "channel_id": session.channel_id}
        kwargs["extra"] = {**context, **(kwargs.get("extra") or {})}
        return msg, kwargs


RunBlocking = Callable[..., Awaitable[Any]]


class SocketSession:
    def __init__(
        self,
        shard: Shard,
        token: TokenSecret,
        *,
        api: NotificationsApi,
        connect: Connect,
        sink: FrameSink,
        run_blocking: RunBlocking,
        timings: SessionTimings,
        on_rejected: Callable[[list[ChannelTopic]], None],
        slot: int = 0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.shard = shard
        self.slot = slot
        self.log = SessionLog(log, self)
        self.token = token
        self.api = api
        self._connect = connect
        self._sink = sink
        self._run_blocking = run_blocking
        self._timings = timings
        self._on_rejected = on_rejected
        self._clock = clock
        self.channel: Channel | None = None
        self.ws: ClientConnection | None = None
        self.confirmed_at: float | None = None
        self.connected_at = 0.0  # the handshake completed: Genesys delivers to this socket from here on
        self.replaced_at: float | None = None  # a new socket took this one's channel then: Genesys switched to it
        self._handing_over = False  # a new socket is connecting to this one's channel: its end waits for the time
        self._exit: tuple[str, int | None] | None = None  # how the reader ended, while the end waited
        # two clocks. proven_at is the proof: everything the server sent before it has been read. A frame read in
        # time gives it; once reading falls behind (a full writer made a hand-over wait, the library's buffer
        # filled), frames wait in buffers and a read time says nothing of when a frame came: then only a pong (the
        # server answers in order: all it sent before our ping was read) or a reader found caught up gives it.
        # heard_at is liveness: the socket still delivers something.
        self.proven_at = 0.0
        self._heard_at = 0.0
        self._behind = False
        self._in_hand = False  # the reader holds a frame (handling it): not waiting on the socket
        self._waiting_on_writer = False  # reading paused by our own backpressure: silence is not death
        self._pings: collections.deque[float] = collections.deque()  # send times of pings not yet answered
        self.ended = asyncio.Event()
        self.end_reason = ""
        self.alive_until = 0.0  # set when it ends: the last moment it was known alive
        self.wants_rotation = asyncio.Event()
        self.rotation_reason = ""
        self.holds_budget = True  # released when it ends, unless handed to a socket that reopened its channel
        self._confirmed = asyncio.Event()
        self._last_ping = 0.0
        self._retiring = False
        self._reader: asyncio.Task[None] | None = None
        self._watcher: asyncio.Task[None] | None = None

    @property
    def channel_id(self) -> str:
        return self.channel.id if self.channel else "-"

    @property
    def proven_until(self) -> float:
        """Everything published before this has been read: the last answered ping, less the delivery allowance
        (an event published just before may still have been inside Genesys)."""
        return self.proven_at - self._timings.delivery_allowance

    @property
    def live(self) -> bool:
        return self.confirmed_at is not None and not self.ended.is_set()

    def expires_at(self) -> tuple[float, float]:
        """(token expiry, channel expiry): the socket may die at either."""
        channel_expiry = self.channel.expires_at() if self.channel else None
        return self.token.expires_at, channel_expiry if channel_expiry is not None else float("inf")

    # ---------------------------------------------------------------- opening
    async def open(self, topics: list[str]) -> None:
        """Create a channel, subscribe, connect and wait for a heartbeat or pong. Raises on any failure."""
        self.channel = await self._run_blocking(self.api.create_channel)
        results: list[ChannelTopic] = await self._run_blocking(self.api.replace_subscriptions, self.channel.id, topics)
        rejected = [t for t in results if not t.permitted]
        if rejected:
            self._on_rejected(rejected)
        if len(rejected) == len(results):
            raise SessionOpenError(f"every topic of shard {self.shard.id} was rejected")
        await self._connect_and_confirm()

    async def reopen(self, channel: Channel, replacing: SocketSession) -> None:
        """A new socket on an existing channel: no REST call, no channel budget. Genesys allows one socket per
        channel, so connecting this one closes the old (``replacing``); the channel's subscriptions carry over.

        Genesys sends to the old socket until it attaches this one, then closes the old: the old one's end is this
        one's connection, decided here, not by whichever of the two the event loop happens to see first."""
        self.channel = channel
        replacing._handing_over = True
        connected: float | None = None
        try:
            await self._connect_and_confirm(lambda at: replacing.hand_over_done(at))
            connected = self.connected_at
        finally:
            if connected is None and replacing._handing_over:
                replacing.hand_over_done(None)

    def hand_over_done(self, replaced_at: float | None) -> None:
        """The replacement connected at ``replaced_at`` (None: it never connected); an end that waited is decided."""
        self._handing_over = False
        if replaced_at is not None and not self.ended.is_set():
            self.replaced_at = replaced_at
        if self._exit is not None:
            self._closed(*self._exit)

    async def _connect_and_confirm(self, connected: Callable[[float], None] | None = None) -> None:
        assert self.channel is not None
        self.ws = await self._connect(self.channel.connect_uri)
        self.connected_at = self.proven_at = self._heard_at = self._clock()
        on_pause(self.ws, self._fell_behind)
        if connected is not None:
            connected(self.connected_at)
        self._reader = asyncio.create_task(self._read(), name=f"read-{self.channel.id}")
        self._watcher = asyncio.create_task(self._watch(), name=f"watch-{self.channel.id}")
        await self.touch()
        confirmed = asyncio.create_task(self._confirmed.wait())
        ended = asyncio.create_task(self.ended.wait())
        try:
            await asyncio.wait(
                {confirmed, ended}, timeout=self._timings.confirm_timeout, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            confirmed.cancel()
            ended.cancel()
        if not self._confirmed.is_set() or self.ended.is_set():
            reason = self.end_reason or "no heartbeat or pong in time"
            await self.retire("unconfirmed")
            raise SessionOpenError(f"socket on {self.channel.id} not confirmed: {reason}")
        self.confirmed_at = self._clock()

    # ---------------------------------------------------------------- running
    async def _read(self) -> None:
        """Every frame the socket delivered is handed over, until the connection ends: never returns early, so
        frames already in the library's buffer when the socket dies or is retired are not left behind."""
        assert self.ws is not None
        reason = "closed"
        try:
            async for raw in self.ws:
                self._in_hand = True
                try:
                    await self._take(raw)
                finally:
                    self._in_hand = False
        except ConnectionClosed:
            pass
        except Exception:  # the connection itself failed
            self.log.exception("socket reader failed")
            reason = "error"
        if self._retiring:
            return  # retire() decides the end, from how the close went
        code = self.ws.close_code
        if code is not None:
            self.log.warning("socket closed", extra={"code": code, "reason": (self.ws.close_reason or "")[:120]})
        self._closed(reason, code)

    async def _take(self, raw: str | bytes) -> None:
        """One frame handed over, or kept in quarantine: never an exception that would end the reader."""
        if isinstance(raw, bytes):
            try:
                raw = raw.decode("utf-8")
            except UnicodeDecodeError:  # kept byte for byte: a text frame cannot carry it
                await self._keep(raw, "binary frame that is not valid UTF-8", self._clock())
                return
        try:
            await self._handle(raw)
        except Exception as exc:  # one frame that breaks the handler is kept, and the socket stays up
            self.log.exception("frame handling failed")
            await self._keep(raw, f"handler error: {type(exc).__name__}", self._clock())

    def _closed(self, reason: str, code: int | None) -> None:
        if self._handing_over:  # the replacement's connection time decides: wait for it
            self._exit = (reason, code)
            return
        clean = code is not None and code != ABNORMAL_CLOSURE
        # a completed close handshake, read in time, proves the socket until the close; read late, or none (1006:
        # dropped, half-open, reset), the end is the last proof, less the allowance
        end = self._clock() if clean and not self._behind else self.proven_until
        if self.replaced_at is not None and clean:
            # closed because our new socket took the channel: until then Genesys sent to this one, and we read it all
            end = max(end, self.replaced_at)
        self._end(reason, end)

    async def _keep(self, raw: str | bytes, reason: str, at: float) -> None:
        await self._sink.quarantine(raw, reason, self.channel_id, self.shard.id, self.shard.org.name, at)

    async def _handle(self, raw: str) -> None:
        now = self._clock()
        frame = classify(raw)
        if not frame.confirms_liveness:
            await self._keep(raw, frame.reason, now)
            return
        self._heard_at = now
        if not self._behind:
            self.proven_at = now
        self._confirmed.set()  # any well-formed frame proves the channel delivers, an event as well as a pong
        if frame.kind is FrameKind.EVENT:
            event = Received.of(
                raw, frame.envelope, self.channel_id, self.shard.id, self.shard.org.name, now, key=frame.key
            )
            self._waiting_on_writer = True
            try:
                if await self._sink.submit(event):
                    self._fell_behind()
                    self._heard_at = self._clock()  # listening again: the silence while paused was ours
            finally:
                self._waiting_on_writer = False
        elif frame.kind is FrameKind.PONG:
            self._answered()
        elif frame.kind is FrameKind.SOCKET_CLOSING:
            self._rotate("socket_closing")
        elif frame.kind is FrameKind.NO_LONGER_SUBSCRIBED:
            self._rotate("no_longer_subscribed")
        elif frame.kind is FrameKind.TOKEN_REVOKED:
            self._rotate("token_revoked")
        elif frame.kind is FrameKind.NOT_FOUND:
            self._end("evicted", self.proven_until)
            if self.ws is not None:  # the channel is gone: nothing more comes; the reader drains what did
                self.ws.transport.abort()
        elif frame.kind is FrameKind.SUBSCRIBE_RESULT:
            self.log.info("subscribe result", extra={"result": frame.envelope.get("result")})

    def _fell_behind(self) -> None:
        self._behind = True

    def check_caught_up(self) -> None:
        """A reader waiting on the socket with nothing buffered anywhere (library, kernel) has read all that came:
        the proof is now, and read times are timely again."""
        if self._in_hand or self.ws is None or self.ended.is_set():
            return
        if buffered_frames(self.ws) == 0 and unread_bytes(self.ws) == 0:
            self._behind = False
            self.proven_at = max(self.proven_at, self._clock())

    def _answered(self) -> None:
        """A pong answers the oldest ping not yet answered: everything sent before that ping has been read."""
        if self._pings:
            self.proven_at = max(self.proven_at, self._pings.popleft())

    async def _watch(self) -> None:
        """Ping after silence; a socket that answers nothing within the liveness timeout is dead."""
        assert self.ws is not None
        ping_sent_at: float | None = None
        step = max(0.05, min(self._timings.ping_after, self._timings.liveness_timeout) / 4)
        while not self.ended.is_set():
            await asyncio.sleep(step)
            now = self._clock()
            if self._waiting_on_writer:  # reading paused by the writer: the socket's silence is ours, not its
                ping_sent_at = None
                continue
            if ping_sent_at is not None and self._heard_at >= ping_sent_at:
                ping_sent_at = None
            silent = now - self._heard_at >= self._timings.ping_after
            untouched = now - self._last_ping >= self._timings.touch_interval
            if ping_sent_at is None and (silent or untouched):
                ping_sent_at = now
                await self.touch()
            elif ping_sent_at is not None and now - ping_sent_at >= self._timings.liveness_timeout:
                self.log.warning("socket silent after ping; declaring it dead")
                self._end("liveness", self.proven_until)
                self.ws.transport.abort()
                return

    async def touch(self) -> None:
        """Ping now: Genesys counts it as use, so its eviction of least recently used channels passes this one by."""
        if self.ws is None or self.ended.is_set():
            return
        self._last_ping = self._clock()
        with contextlib.suppress(ConnectionClosed):
            await self.ws.send(PING_FRAME)
            self._pings.append(self._last_ping)

    def _rotate(self, reason: str) -> None:
        if not self.wants_rotation.is_set():
            self.rotation_reason = reason
            self.wants_rotation.set()

    def _end(self, reason: str, alive_until: float) -> None:
        """``alive_until``: the moment of the close, or the last frame when the socket went silent."""
        if self.ended.is_set():
            return
        self.end_reason = "retired" if self._retiring else reason
        self.alive_until = alive_until
        self.ended.set()

    # ---------------------------------------------------------------- closing
    async def retire(self, reason: str = "retired") -> None:
        """Close on purpose (after its replacement is confirmed, or at shutdown).

        The reader is never cancelled: it hands over every frame that arrived before the close, however long the
        writer makes it wait, then ends. The session ends only then, so the ledger's clamp to unwritten events
        covers every frame it read. A completed close handshake proves the socket until our close was sent;
        without one (timeout, half-open, reset), the end is the last proof, less the allowance.
        """
        self._retiring = not self.ended.is_set()
        closed_at = self.proven_until
        if self.ws is not None:
            asked_at = self._clock()
            try:
                await asyncio.wait_for(self.ws.close(1000, reason), CLOSE_WAIT)
            except Exception as exc:  # timed out or failed: dropped below, and the end is the last proof
                self.log.warning("socket close did not complete", extra={"error": type(exc).__name__})
            if self.ws.close_code in (None, ABNORMAL_CLOSURE):
                self.ws.transport.abort()
            else:  # the server's close came after everything it sent before it heard ours
                closed_at = max(closed_at, asked_at)
        if self._watcher is not None:
            self._watcher.cancel()
            await asyncio.gather(self._watcher, return_exceptions=True)
        if self._reader is not None:
            await asyncio.gather(asyncio.shield(self._reader), return_exceptions=True)
        self._end(reason, closed_at)
