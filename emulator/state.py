"""The emulator's model of Genesys Cloud: clients, tokens, channels, sockets, events. No I/O here.

Everything runs on the emulator's event loop; sockets are fed through their outbox queues.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import string
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from emulator.config import EmulatorConfig
from emulator.eventbridge import PartnerPublisher
from emulator.events import EventFactory
from genesys.streaming import HEARTBEAT_MESSAGE, METADATA_TOPIC, SOCKET_CLOSING_TOPIC
from genesys.timefmt import iso_ms as iso
from genesys.topics import expand_combined, is_known_topic

TOKEN_EXPIRED_REASON = "Token expired or invalid"
_ALNUM = string.ascii_lowercase + string.digits


def frame(topic: str, body: dict[str, Any]) -> str:
    return json.dumps({"topicName": topic, "eventBody": body})


HEARTBEAT_FRAME = frame(METADATA_TOPIC, {"message": HEARTBEAT_MESSAGE})
PONG_FRAME = frame(METADATA_TOPIC, {"message": "pong"})


@dataclass
class Token:
    value: str = field(repr=False)
    client_id: str
    issued_at: float
    expires_at: float
    grant: str
    subject: str | None = None
    revoked: bool = False
    bound_sockets_closed: bool = False
    calls: deque[float] = field(default_factory=deque)

    def valid(self, now: float) -> bool:
        return not self.revoked and now < self.expires_at


@dataclass
class PublishedEvent:
    seq: int
    topic: str
    envelope: dict[str, Any]
    text: str
    published_at: float
    channels: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "topic": self.topic,
            "envelope": self.envelope,
            "published_at": self.published_at,
            "channels": list(self.channels),
        }


@dataclass(frozen=True, slots=True)
class Outbound:
    """One item for a socket's writer: a text frame, a close, or an abrupt drop."""

    text: str | None = None
    event: PublishedEvent | None = None
    close: tuple[int, str] | None = None
    drop: bool = False
    half_open: float | None = None  # seconds to stop reading the TCP connection: not even protocol pings answered


@dataclass(eq=False)
class SocketConn:
    channel_id: str
    client_addr: Any
    connected_at: float
    outbox: asyncio.Queue[Outbound] = field(default_factory=asyncio.Queue)
    heartbeats_paused_until: float = 0.0
    silenced_until: float = 0.0
    closing_deadline: float | None = None
    finished: bool = False

    def send(self, text: str, event: PublishedEvent | None = None) -> None:
        if not self.finished:
            self.outbox.put_nowait(Outbound(text=text, event=event))

    def close(self, code: int, reason: str) -> None:
        if not self.finished:
            self.finished = True
            self.outbox.put_nowait(Outbound(close=(code, reason)))

    def drop(self) -> None:
        if not self.finished:
            self.finished = True
            self.outbox.put_nowait(Outbound(drop=True))

    def half_open(self, seconds: float, now: float) -> None:
        """The socket stays open and answers nothing: no frames, no pongs, no protocol pings."""
        if not self.finished:
            self.silenced_until = max(self.silenced_until, now + seconds)
            self.heartbeats_paused_until = max(self.heartbeats_paused_until, now + seconds)
            self.outbox.put_nowait(Outbound(half_open=seconds))


@dataclass
class ChannelState:
    id: str
    client_id: str
    token: str = field(repr=False)
    created_at: float
    expires_at: float
    last_used: float
    connect_uri: str
    topics: dict[str, None] = field(default_factory=dict)  # ordered set of subscribed topic ids
    socket: SocketConn | None = None

    def subscribed_to(self, topic: str) -> bool:
        return any(topic in expand_combined(t) for t in self.topics)

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "connectUri": self.connect_uri, "expires": iso(self.expires_at)}


@dataclass
class InjectedFailures:
    count: int
    status: int
    retry_after: float


class Rejection(Exception):
    """A REST call the emulator answers with an error status and Genesys-shaped body."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}


def _random_id(n: int) -> str:
    return "".join(secrets.choice(_ALNUM) for _ in range(n))


class GenesysState:
    def __init__(self, config: EmulatorConfig, clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.clock = clock
        self.tokens: dict[str, Token] = {}
        self.channels: dict[str, ChannelState] = {}
        self.events: list[PublishedEvent] = []
        self.audit_transactions: dict[str, dict[str, Any]] = {}  # audits/query transactions (emulator/analytics_api)
        self.interest: dict[str, None] = {}  # every topic ever subscribed: events keep flowing after sockets go
        self.failures: dict[str, InjectedFailures] = {}
        self.factory = EventFactory(config.seed, unique_stamps=config.repeat_content == 0)
        self._bodies: dict[str, list[dict[str, Any]]] = {}  # bodies sent per topic, for the repeat switch
        self.eventbridge = PartnerPublisher(config.eventbridge) if config.eventbridge else None
        self._channel_counter = 0
        self._creations: dict[str, deque[float]] = {}
        self.evictions: list[dict[str, Any]] = []  # ground truth: which channels Genesys removed to make room
        self.creation_refused_until = 0.0
        self.creation_retry_after = 1.0
        self.events_paused_until = 0.0  # the generator publishes nothing before this (published events still flow)
        self._event_credit = 0.0

    # ---------------------------------------------------------------- OAuth
    def issue_token(self, client_id: str, grant: str, subject: str | None = None) -> Token:
        now = self.clock()
        token = Token(_random_id(48), client_id, now, now + self.config.token_lifetime, grant, subject)
        self.tokens[token.value] = token
        return token

    def take_failure(self, target: str) -> InjectedFailures | None:
        failure = self.failures.get(target)
        if failure is None or failure.count <= 0:
            return None
        failure.count -= 1
        return failure

    def authorize(self, header: str | None) -> Token:
        """The bearer token of a REST call, rate limited per token."""
        if not header or not header.lower().startswith("bearer "):
            raise Rejection(401, "bad.credentials", "Invalid login credentials.")
        token = self.tokens.get(header[7:].strip())
        now = self.clock()
        if token is None or not token.valid(now):
            raise Rejection(401, "bad.credentials", "Invalid login credentials.")
        window = 60.0
        while token.calls and token.calls[0] <= now - window:
            token.calls.popleft()
        if len(token.calls) >= self.config.rate_limit_per_minute:
            retry = max(1, int(token.calls[0] + window - now) + 1)
            raise Rejection(429, "too.many.requests", "Rate limit exceeded", {"Retry-After": str(retry)})
        token.calls.append(now)
        return token

    # ---------------------------------------------------------------- channels
    def _creation_allowed(self, client_id: str) -> None:
        now = self.clock()
        if now < self.creation_refused_until:
            retry = str(max(1, int(self.creation_retry_after)))
            raise Rejection(429, "too.many.requests", "Channel creation rate exceeded", {"Retry-After": retry})
        limit = self.config.channel_creations_per_minute
        if limit is None:
            return
        made = self._creations.setdefault(client_id, deque())
        while made and made[0] <= now - 60:
            made.popleft()
        if len(made) >= limit:
            retry = str(max(1, int(made[0] + 60 - now) + 1))
            raise Rejection(429, "too.many.requests", "Channel creation rate exceeded", {"Retry-After": retry})
        made.append(now)

    def create_channel(self, token: Token, ws_base: str) -> ChannelState:
        self._creation_allowed(token.client_id)
        evicted: list[dict[str, Any]] = []
        owned = sorted(
            (c for c in self.channels.values() if c.client_id == token.client_id),
            key=lambda c: (c.socket is not None, c.last_used),
        )
        while len(owned) >= self.config.max_channels_per_client:
            victim = owned.pop(0)
            evicted.append(
                {"channel": victim.id, "client_id": victim.client_id, "connected": victim.socket is not None}
            )
            self.remove_channel(victim.id, reason="channel evicted")
        now = self.clock()
        channel_id = f"streaming-{self._channel_counter % 10}-{_random_id(26)}"
        self._channel_counter += 1
        channel = ChannelState(
            id=channel_id,
            client_id=token.client_id,
            token=token.value,
            created_at=now,
            expires_at=now + self.config.channel_lifetime,
            last_used=now,
            connect_uri=f"{ws_base}/channels/{channel_id}",
        )
        self.channels[channel_id] = channel
        self.evictions.extend({**e, "for_channel": channel_id, "at": now} for e in evicted)
        return channel

    def owned_channel(self, token: Token, channel_id: str) -> ChannelState:
        channel = self.channels.get(channel_id)
        if channel is None or channel.client_id != token.client_id:
            raise Rejection(404, "not.found", f"channel {channel_id} not found")
        channel.last_used = self.clock()
        return channel

    def remove_channel(self, channel_id: str, reason: str) -> None:
        channel = self.channels.pop(channel_id, None)
        if channel is None or channel.socket is None:
            return
        channel.socket.send(json.dumps({"result": "404", "status": "channel not found", "message": reason}))
        channel.socket.close(1000, reason)

    def change_subscriptions(
        self, channel: ChannelState, topics: list[str], *, mode: str, ignore_errors: bool
    ) -> list[dict[str, Any]]:
        """mode: add (POST) or replace (PUT). Returns Genesys' per-topic entities."""
        permitted: list[str] = []
        rejected: list[dict[str, Any]] = []
        for topic in dict.fromkeys(topics):
            if len(topic) > self.config.max_combined_topic_length or not is_known_topic(topic):
                rejected.append({"id": topic, "state": "Rejected", "rejectionReason": "Topic not found"})
            else:
                permitted.append(topic)
        if rejected and not ignore_errors:
            names = ", ".join(r["id"] for r in rejected)[:300]
            raise Rejection(400, "bad.request", f"Invalid topics: {names}")
        merged = dict.fromkeys(permitted) if mode == "replace" else {**channel.topics, **dict.fromkeys(permitted)}
        if len(merged) > self.config.max_topics_per_channel:
            raise Rejection(
                400, "bad.request", f"A channel may have at most {self.config.max_topics_per_channel} topics"
            )
        channel.topics = merged
        self.interest.update(dict.fromkeys(permitted))
        return [self.topic_entity(channel, t) for t in permitted] + rejected

    @staticmethod
    def topic_entity(channel: ChannelState, topic: str) -> dict[str, Any]:
        return {
            "id": topic,
            "state": "Permitted",
            "selfUri": f"/api/v2/notifications/channels/{channel.id}/subscriptions/{topic}",
        }

    # ---------------------------------------------------------------- sockets
    def connectable(self, channel_id: str) -> ChannelState | None:
        channel = self.channels.get(channel_id)
        if channel is None:
            return None
        token = self.tokens.get(channel.token)
        if self.config.token_bound_sockets and (token is None or not token.valid(self.clock())):
            return None
        return channel

    def attach(self, channel: ChannelState, conn: SocketConn) -> None:
        previous = channel.socket
        channel.socket = conn
        channel.last_used = self.clock()
        if previous is not None:
            previous.close(1000, "another socket connected to this channel")

    def detach(self, conn: SocketConn) -> None:
        conn.finished = True
        channel = self.channels.get(conn.channel_id)
        if channel is not None and channel.socket is conn:
            channel.socket = None
            channel.last_used = self.clock()

    def sockets(self, channel_id: str | None = None) -> list[SocketConn]:
        chosen: Iterable[ChannelState] = (
            self.channels.values() if channel_id is None else filter(None, [self.channels.get(channel_id)])
        )
        return [c.socket for c in chosen if c.socket is not None and not c.socket.finished]

    def subscribe_over_socket(self, conn: SocketConn, message: dict[str, Any]) -> str:
        channel = self.channels.get(conn.channel_id)
        correlation = message.get("correlationId")
        if channel is None:
            return json.dumps({"result": "404", "status": "channel not found", "correlationId": correlation})
        topics = message.get("topics")
        if not isinstance(topics, list) or not all(isinstance(t, str) for t in topics):
            return json.dumps(
                {"result": "400", "status": "topics must be a list of strings", "correlationId": correlation}
            )
        try:
            self.change_subscriptions(channel, topics, mode="add", ignore_errors=False)
        except Rejection as rejection:
            return json.dumps(
                {"result": str(rejection.status), "status": rejection.message, "correlationId": correlation}
            )
        channel.last_used = self.clock()
        return json.dumps({"result": "200", "status": "subscribed", "correlationId": correlation})

    def send_socket_closing(self, conn: SocketConn) -> None:
        conn.send(frame(SOCKET_CLOSING_TOPIC, {"message": "Socket closing for maintenance"}))
        if conn.closing_deadline is None:
            conn.closing_deadline = self.clock() + self.config.socket_closing_grace

    # ---------------------------------------------------------------- events
    def publish(self, topic: str, body: dict[str, Any] | None = None, at: float | None = None) -> PublishedEvent:
        """One notification; ``at``: its publication time when several are published at one moment."""
        now = self.clock() if at is None else at
        envelope = self.factory.envelope(topic, now, body)
        event = PublishedEvent(len(self.events) + 1, topic, envelope, json.dumps(envelope), now)
        self.events.append(event)
        if self.eventbridge is not None:
            self.eventbridge.offer(event.seq, envelope, now)
        for channel in self.channels.values():
            if channel.socket is not None and channel.subscribed_to(topic):
                channel.socket.send(event.text, event)
        return event

    def publish_random(self, count: int, topic: str | None = None, size: int | None = None) -> int:
        """``count`` events on the subscribed topics; with ``size``, each envelope padded to about that many bytes."""
        topics = [topic] if topic else [t for name in self.interest for t in expand_combined(name)]
        if not topics:
            return 0
        for _ in range(count):
            chosen = self.factory.choice(topics)
            body = None
            earlier = self._bodies.get(chosen)
            if earlier and self.factory.chance(self.config.repeat_content):
                body = self.factory.choice(earlier)  # content that repeats an earlier notification's, exactly
            elif size is not None:
                body = self.factory.body(chosen, self.clock())
                short = size - len(json.dumps(self.factory.envelope(chosen, 0, body)))
                if short > 0:  # what a larger notification carries: participants, attributes, segments
                    body["attributes"] = {f"a{i:03d}": "x" * 20 for i in range(max(1, short // 30))}
            sent = self.publish(chosen, body)
            if self.config.repeat_content:
                self._bodies.setdefault(chosen, []).append(sent.envelope["eventBody"])
        return count

    # ---------------------------------------------------------------- time
    def tick(self, elapsed: float) -> None:
        """Advance background behaviour: expiries, forced closes, heartbeats are per socket; events here."""
        now = self.clock()
        for token in self.tokens.values():
            if self.config.token_bound_sockets and not token.valid(now) and not token.bound_sockets_closed:
                token.bound_sockets_closed = True
                for channel in self.channels.values():
                    if channel.token == token.value and channel.socket is not None:
                        channel.socket.close(1000, TOKEN_EXPIRED_REASON)
        for channel in [c for c in self.channels.values() if c.expires_at <= now]:
            self.remove_channel(channel.id, reason="channel expired")
        for conn in self.sockets():
            if conn.closing_deadline is not None and conn.closing_deadline <= now:
                conn.close(1001, "socket closed for maintenance")
        if self.config.event_rate > 0 and now >= self.events_paused_until:
            self._event_credit += self.config.event_rate * elapsed
            whole = int(self._event_credit)
            if whole:
                self._event_credit -= whole
                self.publish_random(whole)

    # ---------------------------------------------------------------- views
    def snapshot(self) -> dict[str, Any]:
        now = self.clock()
        return {
            "now": now,
            "clients": sorted(set(self.config.clients) | set(self.config.saml_clients)),
            "tokens": [
                {
                    "client_id": t.client_id,
                    "grant": t.grant,
                    "subject": t.subject,
                    "issued_at": t.issued_at,
                    "expires_at": t.expires_at,
                    "valid": t.valid(now),
                }
                for t in self.tokens.values()
            ],
            "channels": [
                {
                    "id": c.id,
                    "client_id": c.client_id,
                    "created_at": c.created_at,
                    "expires_at": c.expires_at,
                    "last_used": c.last_used,
                    "connected": c.socket is not None,
                    "topics": list(c.topics),
                }
                for c in self.channels.values()
            ],
            "sockets": len(self.sockets()),
            "evictions": list(self.evictions),
            "events_published": len(self.events),
        }
