"""Faults the emulator injects on request, from HTTP (`POST /_emulator/faults`) or from Python."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from emulator.state import GenesysState, InjectedFailures, Token, frame
from genesys.streaming import NO_LONGER_SUBSCRIBED_PREFIX, TOKEN_REVOKED_PREFIX
from genesys.validation import describe


class FaultError(ValueError):
    """The fault spec is not understood."""


class Spec(BaseModel):
    """Parameters every fault accepts; each fault adds its own. Unknown parameters are an error."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    type: str
    channel: str | None = Field(None, description="one channel's socket; all sockets when omitted")


class CloseSpec(Spec):
    code: int = Field(1011, ge=1000, le=4999)
    reason: str = "server error"


class TokenSpec(Spec):
    client: str | None = None


class PauseSpec(Spec):
    seconds: float = Field(60, gt=0)


class FailSpec(Spec):
    target: Literal["rest", "oauth"] = "rest"
    status: Literal[429, 500, 502, 503, 504] = 500
    count: int = Field(1, ge=0)
    retry_after: float = Field(1, ge=0)


class RefuseSpec(Spec):
    seconds: float = Field(60, gt=0)
    retry_after: float = Field(1, ge=0)


class MalformedSpec(Spec):
    text: str = '{"topicName": "v2.users.x.presence", "eventBody": '


class BurstSpec(Spec):
    count: int = Field(100, ge=0)
    topic: str | None = None
    size: int | None = Field(None, ge=100, le=200_000, description="pad each envelope to about this many bytes")


class PublishSpec(Spec):
    topic: str
    body: dict[str, Any] | None = None
    times: int = Field(
        1, ge=1, le=100, description="publish the same body this many times at once (each its own notification)"
    )


def _drop(state: GenesysState, spec: Spec) -> int:
    targets = state.sockets(spec.channel)
    for conn in targets:
        conn.drop()
    return len(targets)


def _close(state: GenesysState, spec: CloseSpec) -> int:
    targets = state.sockets(spec.channel)
    for conn in targets:
        conn.close(spec.code, spec.reason)
    return len(targets)


def _socket_closing(state: GenesysState, spec: Spec) -> int:
    targets = state.sockets(spec.channel)
    for conn in targets:
        state.send_socket_closing(conn)
    return len(targets)


def _matching_tokens(state: GenesysState, spec: TokenSpec) -> list[Token]:
    if spec.channel is not None:
        channel = state.channels.get(spec.channel)
        return [state.tokens[channel.token]] if channel and channel.token in state.tokens else []
    if spec.client is None:
        raise FaultError("give a client or a channel whose token to expire")
    now = state.clock()
    return [t for t in state.tokens.values() if t.client_id == spec.client and t.valid(now)]


def _expire_token(state: GenesysState, spec: TokenSpec) -> int:
    tokens = _matching_tokens(state, spec)
    now = state.clock()
    for token in tokens:
        token.expires_at = min(token.expires_at, now)
    return len(tokens)


def _revoke_token(state: GenesysState, spec: TokenSpec) -> int:
    tokens = _matching_tokens(state, spec)
    for token in tokens:
        token.revoked = True
        for channel in state.channels.values():
            if channel.token == token.value and channel.socket is not None:
                channel.socket.send(frame(f"{TOKEN_REVOKED_PREFIX}.{channel.id}", {"message": "token revoked"}))
    return len(tokens)


def _evict(state: GenesysState, spec: Spec) -> int:
    if spec.channel not in state.channels:
        return 0
    state.remove_channel(spec.channel, reason="channel evicted")
    return 1


def _no_longer_subscribed(state: GenesysState, spec: Spec) -> int:
    targets = state.sockets(spec.channel)
    for conn in targets:
        channel = state.channels[conn.channel_id]
        channel.topics = {}
        conn.send(frame(f"{NO_LONGER_SUBSCRIBED_PREFIX}.{channel.id}", {"message": "no longer subscribed"}))
    return len(targets)


def _pause(attribute: str) -> Callable[[GenesysState, PauseSpec], int]:
    def apply(state: GenesysState, spec: PauseSpec) -> int:
        until = state.clock() + spec.seconds
        targets = state.sockets(spec.channel)
        for conn in targets:
            setattr(conn, attribute, until)
        return len(targets)

    return apply


def _half_open(state: GenesysState, spec: PauseSpec) -> int:
    targets = state.sockets(spec.channel)
    for conn in targets:
        conn.half_open(spec.seconds, state.clock())
    return len(targets)


def _refuse_creation(state: GenesysState, spec: RefuseSpec) -> int:
    state.creation_refused_until = state.clock() + spec.seconds
    state.creation_retry_after = spec.retry_after
    return 1


def _eventbridge(action: str) -> Callable[[GenesysState, PauseSpec], int]:
    def apply(state: GenesysState, spec: PauseSpec) -> int:
        if state.eventbridge is None:
            raise FaultError("the emulator has no EventBridge path configured")
        getattr(state.eventbridge, action)(spec.seconds)
        return 1

    return apply


def _pause_events(state: GenesysState, spec: PauseSpec) -> int:
    state.events_paused_until = state.clock() + spec.seconds
    return 1


def _fail_requests(state: GenesysState, spec: FailSpec) -> int:
    state.failures[spec.target] = InjectedFailures(spec.count, spec.status, spec.retry_after)
    return spec.count


def _malformed(state: GenesysState, spec: MalformedSpec) -> int:
    targets = state.sockets(spec.channel)
    for conn in targets:
        conn.send(spec.text)
    return len(targets)


def _burst(state: GenesysState, spec: BurstSpec) -> int:
    return state.publish_random(spec.count, spec.topic, spec.size)


def _publish(state: GenesysState, spec: PublishSpec) -> int:
    now = state.clock()
    body = spec.body if spec.body is not None else state.factory.body(spec.topic, now)
    for _ in range(spec.times):  # one body, several notifications: each its own CorrelationId, one moment
        state.publish(spec.topic, body, at=now)
    return spec.times


Handler = Callable[[GenesysState, Any], int]
FAULTS: dict[str, tuple[type[Spec], Handler]] = {
    "drop_socket": (Spec, _drop),
    "close_socket": (CloseSpec, _close),
    "socket_closing": (Spec, _socket_closing),
    "expire_token": (TokenSpec, _expire_token),
    "revoke_token": (TokenSpec, _revoke_token),
    "evict_channel": (Spec, _evict),
    "no_longer_subscribed": (Spec, _no_longer_subscribed),
    "pause_heartbeats": (PauseSpec, _pause("heartbeats_paused_until")),
    "stall_socket": (PauseSpec, _pause("silenced_until")),
    "half_open_socket": (PauseSpec, _half_open),
    "refuse_channel_creation": (RefuseSpec, _refuse_creation),
    "eventbridge_outage": (PauseSpec, _eventbridge("outage")),
    "eventbridge_pending": (PauseSpec, _eventbridge("pending")),
    "pause_events": (PauseSpec, _pause_events),
    "fail_requests": (FailSpec, _fail_requests),
    "malformed_frame": (MalformedSpec, _malformed),
    "burst": (BurstSpec, _burst),
    "publish": (PublishSpec, _publish),
}


def apply_fault(state: GenesysState, spec: dict[str, Any]) -> dict[str, Any]:
    kind = spec.get("type")
    entry = FAULTS.get(str(kind))
    if entry is None:
        raise FaultError(f"unknown fault type {kind!r}; known: {', '.join(sorted(FAULTS))}")
    model, handler = entry
    try:
        parsed = model.model_validate(spec)
    except ValidationError as exc:
        raise FaultError(f"bad parameters for {kind}: {describe(exc)}") from None
    return {"type": kind, "affected": handler(state, parsed)}


def chaos_menu(*, pause: float, stall: float) -> list[dict[str, Any]]:
    """The faults a chaos run draws from (the demo, the soak and the chaos test); socket faults need a channel."""
    return [
        {"type": "drop_socket"},
        {"type": "close_socket", "code": 1011, "reason": "internal error"},
        {"type": "socket_closing"},
        {"type": "evict_channel"},
        {"type": "no_longer_subscribed"},
        {"type": "pause_heartbeats", "seconds": pause},
        {"type": "stall_socket", "seconds": stall},
        {"type": "malformed_frame"},
        {"type": "burst", "count": 100},
        {"type": "fail_requests", "target": "rest", "count": 2, "status": 503},
        {"type": "fail_requests", "target": "rest", "count": 1, "status": 429, "retry_after": 1},
        {"type": "fail_requests", "target": "oauth", "count": 2, "status": 500},
    ]


def needs_channel(spec: dict[str, Any]) -> bool:
    return spec["type"] not in (
        "burst",
        "fail_requests",
        "publish",
        "refuse_channel_creation",
        "eventbridge_outage",
        "eventbridge_pending",
    )
