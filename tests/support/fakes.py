"""In-memory stand-ins injected where the worker takes its collaborators: no network, no AWS, milliseconds."""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from evidence.coverage import TASKS_PARTITION
from evidence.store import Rejected, Stored, WriteOutcome
from genesys.models import Channel, ChannelTopic
from genesys.org_config import OrgTopics
from genesys.streaming import HEARTBEAT_MESSAGE, METADATA_TOPIC
from genesys.token_secret import TokenSecret
from stream_worker.session import ABNORMAL_CLOSURE
from stream_worker.settings import WorkerSettings
from stream_worker.sharding import Shard

ORG = OrgTopics(
    name="o",
    environment="mypurecloud.ie",
    token_secret="o/token",
    topics=("v2.users.u1.presence", "v2.users.u2.presence"),
)
PONG = json.dumps({"topicName": METADATA_TOPIC, "eventBody": {"message": "pong"}})
HEARTBEAT = json.dumps({"topicName": METADATA_TOPIC, "eventBody": {"message": HEARTBEAT_MESSAGE}})


def token(name: str, expires_at: float = 2e9, issued_at: float = 1e9) -> TokenSecret:
    return TokenSecret(name, "bearer", expires_at, issued_at, "o", "mypurecloud.ie", "client")


def settings(**overrides: Any) -> WorkerSettings:
    values: dict[str, Any] = {
        "orgs": [ORG],
        "events_table": "e",
        "coverage_table": "c",
        "payload_bucket": "b",
        "ping_after": 0.2,
        "liveness_timeout": 0.2,
        "confirm_timeout": 1.0,
        "token_rotation_lead": 60,
        "channel_rotation_lead": 60,
        "min_token_life": 60,
        **overrides,
    }
    return WorkerSettings.model_validate(values)


def shard() -> Shard:
    return Shard("o:0", ORG, ORG.topics)


def frame(topic: str, body: dict[str, Any]) -> str:
    return json.dumps({"topicName": topic, "eventBody": body, "metadata": {"CorrelationId": "c"}})


class FakeTransport:
    def __init__(self, connection: FakeConnection) -> None:
        self._connection = connection

    def abort(self) -> None:
        self._connection.drop()


class FakeConnection:
    """A socket: frames pushed in are read out in order; a ping is answered with a pong unless ``silent``."""

    def __init__(self, uri: str, log: list[tuple[str, str]]) -> None:
        self.uri = uri
        self.log = log
        self.inbox: asyncio.Queue[str | None] = asyncio.Queue()
        self.close_code: int | None = None
        self.close_reason: str | None = None
        self.silent = False
        self.half_open = False  # the peer is gone without a word: no pong, no close frame, a close times out
        self.sent: list[str] = []
        self.transport = FakeTransport(self)

    def push(self, text: str) -> None:
        self.inbox.put_nowait(text)

    def drop(self, code: int = 1006) -> None:
        """The server side ends the socket (a close, or a drop when ``code`` is 1006)."""
        if self.close_code is None:
            self.close_code = code
            self.inbox.put_nowait(None)

    async def send(self, text: str) -> None:
        self.sent.append(text)
        if json.loads(text).get("message") == "ping" and not (self.silent or self.half_open):
            self.push(PONG)

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """A close handshake; on a half-open socket none completes, and the library drops the connection (1006)."""
        self.log.append(("close", self.uri))
        self.close_reason = reason
        self.drop(ABNORMAL_CLOSURE if self.half_open else code)

    async def __aiter__(self) -> AsyncIterator[str]:
        while True:
            text = await self.inbox.get()
            if text is None:
                return
            yield text


@dataclass
class FakeGenesys:
    """Channels and sockets of one fake Genesys: records the order of what the worker did."""

    log: list[tuple[str, str]] = field(default_factory=list)
    connections: dict[str, FakeConnection] = field(default_factory=dict)
    tokens_used: list[str] = field(default_factory=list)
    fail_creates: list[BaseException] = field(default_factory=list)
    neighbour_channels: int = 0  # other applications' channels on the same OAuth client
    fail_connects: list[BaseException] = field(default_factory=list)
    _ids: itertools.count[int] = field(default_factory=itertools.count)

    def api_for(self, secret: TokenSecret) -> FakeApi:
        return FakeApi(self, secret)

    async def connect(self, uri: str) -> FakeConnection:
        if self.fail_connects:
            raise self.fail_connects.pop(0)
        channel_id = uri.removeprefix("fake://")
        previous = self.connections.get(channel_id)
        if previous is not None and previous.close_code is None:
            previous.drop(1000)  # one socket per channel: the new one closes the old, as Genesys does
        connection = FakeConnection(uri, self.log)
        self.connections[channel_id] = connection
        self.log.append(("connect", uri))
        return connection

    def live(self) -> list[FakeConnection]:
        return [c for c in self.connections.values() if c.close_code is None]


@dataclass
class FakeApi:
    genesys: FakeGenesys
    secret: TokenSecret

    def create_channel(self) -> Channel:
        if self.genesys.fail_creates:
            raise self.genesys.fail_creates.pop(0)
        channel_id = f"ch-{next(self.genesys._ids)}"
        self.genesys.log.append(("create", channel_id))
        self.genesys.tokens_used.append(self.secret.access_token)
        return Channel(channel_id, f"fake://{channel_id}", None)

    def client_channel_count(self) -> int:
        return len(self.genesys.live()) + self.genesys.neighbour_channels

    def replace_subscriptions(self, channel_id: str, topics: list[str]) -> list[ChannelTopic]:
        return [ChannelTopic(t) for t in topics]


class FakeReader:
    """TokenReader's surface for the supervisor: the tokens on offer, and what was refused."""

    def __init__(self, *tokens: TokenSecret) -> None:
        self.tokens = list(tokens)
        self.rejected: list[str] = []
        self.refreshed = 0

    def alternatives(self, min_remaining: float) -> list[TokenSecret]:
        return [t for t in self.tokens if t.access_token not in self.rejected]

    def held(self, min_remaining: float) -> list[TokenSecret]:
        return []  # nothing in memory: every open reads, as on a first start

    def reject(self, secret: TokenSecret) -> None:
        self.rejected.append(secret.access_token)

    def refresh(self) -> TokenSecret | None:
        self.refreshed += 1
        return None


class RecordingSink:
    def __init__(self) -> None:
        self.events: list[Any] = []
        self.quarantined: list[tuple[str | bytes, str]] = []

    async def submit(self, event: Any) -> bool:
        self.events.append(event)
        return False

    async def quarantine(self, raw: str | bytes, reason: str, *args: Any) -> None:
        self.quarantined.append((raw, reason))


class MemoryTable:
    """CoverageTable's write side, in memory; ``fail`` makes the next puts raise."""

    def __init__(self) -> None:
        self.items: dict[tuple[str, str], dict[str, Any]] = {}
        self.heartbeats: list[dict[str, Any]] = []  # the task's "_tasks" items, kept apart from its sessions
        self.fail = 0

    def put_session(self, item: dict[str, Any]) -> None:
        if self.fail:
            self.fail -= 1
            raise ConnectionError("dynamodb unreachable")
        if item["shard"]["S"] == TASKS_PARTITION:
            self.heartbeats.append(item)
            return
        self.items[(item["shard"]["S"], item["session"]["S"])] = item


class ScriptedStore:
    """EventStore's surface: outcomes (or exceptions) served in order per key, ``Stored`` by default."""

    def __init__(self) -> None:
        self.script: dict[str, list[WriteOutcome | BaseException]] = {}
        self.written: list[tuple[str, dict[str, Any]]] = []
        self.gate: asyncio.Event | None = None

    def put_new(self, key: str, item: dict[str, Any], overflow: bytes | None) -> WriteOutcome:
        steps = self.script.get(key)
        if steps:
            step = steps.pop(0)
            if isinstance(step, BaseException):
                raise step
            if isinstance(step, Rejected):
                return step
        self.written.append((key, item))
        return Stored()


async def inline(fn: Any, *args: Any) -> Any:
    """run_blocking without a thread: the fakes never block."""
    return fn(*args)
