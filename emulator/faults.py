"""Faults the emulator injects on request, from HTTP (`POST /_emulator/faults`) or from Python."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from emulator.state import GenesysState, InjectedFailures, SocketConn, frame
from genesys.frames import NO_LONGER_SUBSCRIBED_PREFIX, TOKEN_REVOKED_PREFIX


class FaultError(ValueError):
    """The fault spec is not understood."""


def _targets(state: GenesysState, spec: dict[str, Any]) -> list[SocketConn]:
    channel = spec.get("channel")
    if channel is not None and not isinstance(channel, str):
        raise FaultError("channel must be a channel id")
    return state.sockets(channel)


def _drop(state: GenesysState, spec: dict[str, Any]) -> int:
    targets = _targets(state, spec)
    for conn in targets:
        conn.drop()
    return len(targets)


def _close(state: GenesysState, spec: dict[str, Any]) -> int:
    targets = _targets(state, spec)
    code, reason = int(spec.get("code", 1011)), str(spec.get("reason", "server error"))
    for conn in targets:
        conn.close(code, reason)
    return len(targets)


def _socket_closing(state: GenesysState, spec: dict[str, Any]) -> int:
    targets = _targets(state, spec)
    for conn in targets:
        state.send_socket_closing(conn)
    return len(targets)


def _matching_tokens(state: GenesysState, spec: dict[str, Any]) -> list[Any]:
    client, channel_id = spec.get("client"), spec.get("channel")
    if channel_id is not None:
        channel = state.channels.get(str(channel_id))
        return [state.tokens[channel.token]] if channel and channel.token in state.tokens else []
    if client is None:
        raise FaultError("give a client or a channel whose token to expire")
    now = state.clock()
    return [t for t in state.tokens.values() if t.client_id == client and t.valid(now)]


def _expire_token(state: GenesysState, spec: dict[str, Any]) -> int:
    tokens = _matching_tokens(state, spec)
    now = state.clock()
    for token in tokens:
        token.expires_at = min(token.expires_at, now)
    return len(tokens)


def _revoke_token(state: GenesysState, spec: dict[str, Any]) -> int:
    tokens = _matching_tokens(state, spec)
    for token in tokens:
        token.revoked = True
        for channel in state.channels.values():
            if channel.token == token.value and channel.socket is not None:
                channel.socket.send(frame(f"{TOKEN_REVOKED_PREFIX}.{channel.id}", {"message": "token revoked"}))
    return len(tokens)


def _evict(state: GenesysState, spec: dict[str, Any]) -> int:
    channel = str(spec.get("channel", ""))
    if channel not in state.channels:
        return 0
    state.remove_channel(channel, reason="channel evicted")
    return 1


def _no_longer_subscribed(state: GenesysState, spec: dict[str, Any]) -> int:
    targets = _targets(state, spec)
    for conn in targets:
        channel = state.channels[conn.channel_id]
        channel.topics = {}
        conn.send(frame(f"{NO_LONGER_SUBSCRIBED_PREFIX}.{channel.id}", {"message": "no longer subscribed"}))
    return len(targets)


def _pause(attribute: str) -> Callable[[GenesysState, dict[str, Any]], int]:
    def apply(state: GenesysState, spec: dict[str, Any]) -> int:
        until = state.clock() + float(spec.get("seconds", 60))
        targets = _targets(state, spec)
        for conn in targets:
            setattr(conn, attribute, until)
        return len(targets)

    return apply


def _fail_requests(state: GenesysState, spec: dict[str, Any]) -> int:
    target = spec.get("target", "rest")
    if target not in ("rest", "oauth"):
        raise FaultError("target must be rest or oauth")
    status = int(spec.get("status", 500))
    if status not in (429, 500, 502, 503, 504):
        raise FaultError("status must be 429, 500, 502, 503 or 504")
    count = int(spec.get("count", 1))
    state.failures[target] = InjectedFailures(count, status, float(spec.get("retry_after", 1)))
    return count


def _malformed(state: GenesysState, spec: dict[str, Any]) -> int:
    targets = _targets(state, spec)
    text = str(spec.get("text", '{"topicName": "v2.users.x.presence", "eventBody": '))
    for conn in targets:
        conn.send(text)
    return len(targets)


def _burst(state: GenesysState, spec: dict[str, Any]) -> int:
    topic = spec.get("topic")
    return state.publish_random(int(spec.get("count", 100)), str(topic) if topic else None)


def _publish(state: GenesysState, spec: dict[str, Any]) -> int:
    topic, body = spec.get("topic"), spec.get("body")
    if not isinstance(topic, str) or (body is not None and not isinstance(body, dict)):
        raise FaultError("publish needs a topic and optionally a JSON object body")
    state.publish(topic, body)
    return 1


FAULTS: dict[str, Callable[[GenesysState, dict[str, Any]], int]] = {
    "drop_socket": _drop,
    "close_socket": _close,
    "socket_closing": _socket_closing,
    "expire_token": _expire_token,
    "revoke_token": _revoke_token,
    "evict_channel": _evict,
    "no_longer_subscribed": _no_longer_subscribed,
    "pause_heartbeats": _pause("heartbeats_paused_until"),
    "stall_socket": _pause("silenced_until"),
    "fail_requests": _fail_requests,
    "malformed_frame": _malformed,
    "burst": _burst,
    "publish": _publish,
}


def apply_fault(state: GenesysState, spec: dict[str, Any]) -> dict[str, Any]:
    kind = spec.get("type")
    handler = FAULTS.get(str(kind))
    if handler is None:
        raise FaultError(f"unknown fault type {kind!r}; known: {', '.join(sorted(FAULTS))}")
    try:
        affected = handler(state, spec)
    except (TypeError, ValueError) as exc:
        if isinstance(exc, FaultError):
            raise
        raise FaultError(f"bad parameters for {kind}: {exc}") from None
    return {"type": kind, "affected": affected}


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
    return spec["type"] not in ("burst", "fail_requests", "publish")
