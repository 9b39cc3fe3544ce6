"""What makes two deliveries one notification, and where a notification whose content repeats is kept.

The event key hashes a notification's content (topic and body), so copies of one notification (two sockets, two
tasks, EventBridge and the websocket, a redelivery) are one item. But Genesys also sends notifications whose content
repeats an earlier one's exactly (a queue's count going 0 -> 1 -> 0, a routing status sent twice in a
millisecond); those are not copies and must each be kept. Each path tells its own notifications apart:

- websocket: the envelope's ``CorrelationId``. Genesys sends one notification with one CorrelationId to every
  channel subscribed to its topic, so the other socket's copy and the other task's carry the same one.
- EventBridge: the detail's ``timestamp``. A redelivery (same EventBridge id) and a retry by Genesys (a new id)
  carry the same detail; the CorrelationId there is one per conversation, not per notification.

The paths share no identifier, so each path counts its own distinct notifications of a content, and the table
keeps as many items as the path that saw most: the n-th distinct notification of a content, on any path, is the
item with ordinal n (the event key itself for n = 1, ``ordinal_key(key, n)`` after). Each item records, per path,
the arrival that took it (``arrivals_websocket``, ``arrivals_eventbridge``, string sets). An arrival matches an
item that recorded it (a copy), takes an item its path has not recorded yet (a copy from the other path), or goes
on to the next ordinal.
"""

from __future__ import annotations

import enum
import hashlib
from typing import Any

Item = dict[str, Any]
WEBSOCKET, EVENTBRIDGE = "websocket", "eventbridge"  # the paths that deliver notifications
# the attributes an arrival's update touches: the key and the per-path sets (IAM allows writers these, no more)
ARRIVAL_UPDATE_ATTRIBUTES = ("pk", f"arrivals_{WEBSOCKET}", f"arrivals_{EVENTBRIDGE}")
NO_ID = "-"  # a notification without the identifier its path uses: its content alone identifies it
MAX_ORDINAL = 10_000  # distinct notifications of one content kept; past it, the arrival is quarantined


class Match(enum.Enum):
    SAME = "same"  # the item holds this very arrival: a copy
    TAKE = "take"  # the item holds no arrival of this path yet: this one takes it (a copy from the other path)
    OTHER = "other"  # the item holds another notification of this path: look at the next ordinal


def arrivals_attribute(source: str) -> str:
    return f"arrivals_{source}"


def ordinal_key(key: str, ordinal: int) -> str:
    """The item key of the ``ordinal``-th distinct notification of the content ``key`` names."""
    return key if ordinal == 1 else hashlib.sha256(f"{key}#{ordinal}".encode()).hexdigest()


def arrival_of(envelope: dict[str, Any], source: str) -> str:
    """The path's identifier of one notification (see the module's docstring)."""
    if source == EVENTBRIDGE:
        stamp = envelope.get("timestamp")
        return str(stamp) if stamp else NO_ID
    metadata = envelope.get("metadata")
    correlation = metadata.get("CorrelationId") if isinstance(metadata, dict) else None
    return str(correlation) if correlation else NO_ID


def match(existing: Item, source: str, arrival: str) -> Match:
    """How an arrival relates to the item already stored at its ordinal."""
    seen = existing.get(arrivals_attribute(source), {}).get("SS")
    if seen is not None:
        return Match.SAME if arrival in seen else Match.OTHER
    if "arrival" not in existing and existing.get("source", {}).get("S") == source:
        return Match.SAME  # stored before arrivals were recorded: a copy, as it was judged then
    return Match.TAKE


def at_ordinal(item: Item, key: str, ordinal: int) -> Item:
    """The item as the ``ordinal``-th notification of its content: its own key, and the content's key beside it."""
    if ordinal == 1:
        return item
    return {**item, "pk": {"S": ordinal_key(key, ordinal)}, "content_key": {"S": key}, "ordinal": {"N": str(ordinal)}}
