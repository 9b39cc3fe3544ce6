"""The event key: what makes two deliveries one stored item."""

from __future__ import annotations

import hashlib
from typing import Any

from evidence.fastjson import canonical

KEY_VERSION = 2  # 1 hashed the CorrelationId too; EventBridge does not carry the websocket's (see README)


def event_key(topic: str, body: Any, *, checked: bool = False) -> str:
    """SHA-256 of the concrete topic name and the canonical body (sorted keys, no spaces).

    The same notification has the same key on every socket and on the EventBridge path. The CorrelationId is left
    out: on EventBridge it is one value per conversation, not per event, and whether it equals the websocket's is
    undocumented. Two notifications with the same topic and the same body (entity state with its timestamps and
    ids) are the same notification.
    """
    return hashlib.sha256(canonical([topic, body], checked=checked)).hexdigest()


def envelope_key(envelope: dict[str, Any]) -> str:
    return event_key(str(envelope["topicName"]), envelope.get("eventBody"))
