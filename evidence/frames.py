"""What arrived on a socket, classified: an event (with its key), a control message, or a malformed frame to keep."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from evidence.fastjson import lone_surrogate, parse
from evidence.keys import event_key
from genesys.streaming import (
    HEARTBEAT_MESSAGE,
    METADATA_TOPIC,
    NO_LONGER_SUBSCRIBED_PREFIX,
    SOCKET_CLOSING_TOPIC,
    TOKEN_REVOKED_PREFIX,
)

MALFORMED_EXCERPT = 256


class FrameKind(enum.Enum):
    HEARTBEAT = "heartbeat"
    PONG = "pong"
    SOCKET_CLOSING = "socket_closing"
    NO_LONGER_SUBSCRIBED = "no_longer_subscribed"
    TOKEN_REVOKED = "token_revoked"
    SUBSCRIBE_RESULT = "subscribe_result"
    NOT_FOUND = "not_found"  # {"result": "404"}: the channel is gone (evicted or expired)
    EVENT = "event"
    MALFORMED = "malformed"


@dataclass(slots=True)  # not frozen: made once per event, and a frozen dataclass costs 4x to build
class Frame:
    kind: FrameKind
    raw: str
    envelope: dict[str, Any] = field(default_factory=dict)
    reason: str = ""
    key: str = ""  # the event key, for an EVENT frame

    @property
    def topic(self) -> str:
        return str(self.envelope.get("topicName", ""))

    @property
    def confirms_liveness(self) -> bool:
        """Any well-formed frame proves the socket is alive; heartbeats and pongs are the usual ones."""
        return self.kind is not FrameKind.MALFORMED


def classify(raw: str | bytes) -> Frame:
    text = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else raw
    try:
        data, checked = parse(text)
    except ValueError:
        return Frame(FrameKind.MALFORMED, text, reason="not valid JSON")
    except RecursionError:
        return Frame(FrameKind.MALFORMED, text, reason="nested too deeply")
    if not isinstance(data, dict):
        return Frame(FrameKind.MALFORMED, text, reason="not a JSON object")
    if not checked and lone_surrogate(data):
        return Frame(FrameKind.MALFORMED, text, reason="a string holds a lone surrogate (not valid Unicode)")
    if "result" in data and "topicName" not in data:
        kind = FrameKind.NOT_FOUND if str(data["result"]) == "404" else FrameKind.SUBSCRIBE_RESULT
        return Frame(kind, text, data)
    topic = data.get("topicName")
    if not isinstance(topic, str) or not topic:
        return Frame(FrameKind.MALFORMED, text, reason="no topicName")
    body = data.get("eventBody")
    if topic == METADATA_TOPIC:
        message = body.get("message") if isinstance(body, dict) else None
        if message == HEARTBEAT_MESSAGE:
            return Frame(FrameKind.HEARTBEAT, text, data)
        if message == "pong":
            return Frame(FrameKind.PONG, text, data)
        return Frame(FrameKind.MALFORMED, text, reason="unknown channel.metadata message")
    if topic == SOCKET_CLOSING_TOPIC:
        return Frame(FrameKind.SOCKET_CLOSING, text, data)
    if topic.startswith(NO_LONGER_SUBSCRIBED_PREFIX):
        return Frame(FrameKind.NO_LONGER_SUBSCRIBED, text, data)
    if topic.startswith(TOKEN_REVOKED_PREFIX):
        return Frame(FrameKind.TOKEN_REVOKED, text, data)
    if "eventBody" not in data:
        return Frame(FrameKind.MALFORMED, text, reason="no eventBody")
    return Frame(FrameKind.EVENT, text, data, key=event_key(topic, body, checked=checked))


def excerpt(text: str, limit: int = MALFORMED_EXCERPT) -> str:
    return text if len(text) <= limit else f"{text[:limit]}...(+{len(text) - limit} chars)"
