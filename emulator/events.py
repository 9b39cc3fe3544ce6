"""Realistic event bodies per topic, deterministic under a seed."""

from __future__ import annotations

import random
import uuid
from typing import Any, TypeVar

from genesys.timefmt import iso_ms
from genesys.topics import match_template

_PRESENCES = ("Available", "Away", "Busy", "Break", "Meal", "Meeting", "Training", "Offline")
_ROUTING = ("IDLE", "INTERACTING", "NOT_RESPONDING", "COMMUNICATING", "OFF_QUEUE")
_MEDIA = ("voice", "chat", "email", "message", "callback")
_AUDIT_ACTIONS = ("Create", "Update", "Delete", "Read")
T = TypeVar("T")


class EventFactory:
    """Builds envelopes. The same seed and the same sequence of topics give the same envelopes."""

    def __init__(self, seed: int, *, unique_stamps: bool = True) -> None:
        self._rng = random.Random(seed)
        self._last_ms = 0
        self._unique = unique_stamps  # off: two state changes may share a millisecond, so a body may repeat

    def _uuid(self) -> str:
        return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))

    def choice(self, items: list[T]) -> T:
        return self._rng.choice(items)

    def chance(self, probability: float) -> bool:
        return probability > 0 and self._rng.random() < probability

    def envelope(self, topic: str, now: float, body: dict[str, Any] | None = None) -> dict[str, Any]:
        return {
            "topicName": topic,
            "version": "2",
            "eventBody": body if body is not None else self.body(topic, now),
            "metadata": {"CorrelationId": self._uuid()},
        }

    def body(self, topic: str, now: float) -> dict[str, Any]:
        # unless content may repeat (the emulator's repeat switch): one notification per millisecond at most, so two
        # state changes never share a timestamp and two distinct notifications never share a body
        if self._unique:
            self._last_ms = max(int(now * 1000), self._last_ms + 1)
            now = self._last_ms / 1000
        stamp = iso_ms(now)
        matched = match_template(topic)
        groups = matched[1] if matched else {}
        entity = groups.get("id", self._uuid())
        template = matched[0].template if matched else ""
        rng = self._rng
        if template.endswith(".presence"):
            return {
                "id": entity,
                "presenceDefinition": {"id": self._uuid(), "systemPresence": rng.choice(_PRESENCES)},
                "message": "",
                "modifiedDate": stamp,
            }
        if template.endswith(".routingStatus"):
            return {"id": entity, "routingStatus": {"status": rng.choice(_ROUTING), "startTime": stamp}}
        if template.startswith("v2.detail.events"):
            return {
                "eventTime": int(now * 1000),
                "conversationId": entity,
                "participantId": self._uuid(),
                "sessionId": self._uuid(),
                "mediaType": rng.choice(_MEDIA),
                "queueId": self._uuid(),
                "userId": self._uuid(),
                "eventName": groups.get("event", ""),
            }
        if template.startswith("v2.audits"):
            return {
                "id": self._uuid(),
                "entityType": groups.get("type", ""),
                "entityId": entity,
                "action": rng.choice(_AUDIT_ACTIONS),
                "user": {"id": self._uuid()},
                "eventDate": stamp,
            }
        if template.startswith("v2.analytics"):
            return {
                "group": {"queueId": entity, "mediaType": rng.choice(_MEDIA)},
                "data": [{"metric": "oWaiting", "stats": {"count": rng.randint(0, 40)}}],
                "observationTime": stamp,
            }
        # conversations, calls, chats, ... on users and queues
        return {
            "id": self._uuid(),
            "participants": [
                {
                    "id": self._uuid(),
                    "purpose": rng.choice(("customer", "agent", "acd")),
                    "state": rng.choice(("alerting", "connected", "disconnected")),
                    "queueId": entity if "queues" in template else self._uuid(),
                    "userId": entity if template.startswith("v2.users") else self._uuid(),
                }
            ],
            "mediaType": rng.choice(_MEDIA),
            "updatedAt": stamp,
        }
