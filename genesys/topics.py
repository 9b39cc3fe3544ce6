"""Topic templates, combined-topic expansion and the entity ids a topic names."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

_ID = r"(?P<{name}>[^.?&\s]+)"

DETAIL_EVENT_NAMES: tuple[str, ...] = (
    "acd.start",
    "acd.end",
    "acw",
    "customer.start",
    "customer.end",
    "user.start",
    "user.end",
    "wrapup",
    "flow.start",
    "flow.end",
    "outbound",
)


@dataclass(frozen=True, slots=True)
class TopicTemplate:
    template: str
    description: str
    entity: str  # which entity kind the {id} names: user, queue, conversation or audit
    conversation_field: str | None = None  # the body field that names the conversation, on conversation topics

    @property
    def pattern(self) -> re.Pattern[str]:
        return _compiled(self.template)


def _compiled(template: str) -> re.Pattern[str]:
    escaped = re.escape(template).replace(r"\{id\}", _ID.format(name="id"))
    escaped = escaped.replace(r"\{type\}", _ID.format(name="type"))
    events = "|".join(re.escape(e) for e in DETAIL_EVENT_NAMES)
    escaped = escaped.replace(r"\{event\}", f"(?P<event>{events})")
    return re.compile(f"^{escaped}$")


TOPIC_TEMPLATES: tuple[TopicTemplate, ...] = (
    TopicTemplate("v2.users.{id}.presence", "A user's presence changed", "user"),
    TopicTemplate("v2.users.{id}.routingStatus", "A user's routing status changed", "user"),
    TopicTemplate("v2.users.{id}.conversations", "A user's conversations changed", "user", "id"),
    *(
        TopicTemplate(f"v2.routing.queues.{{id}}.{kind}", f"Queue {kind} changed", "queue", "id")
        for kind in ("conversations", "calls", "chats", "emails", "messages", "callbacks")
    ),
    TopicTemplate("v2.routing.queues.{id}.users", "Queue users changed", "queue"),
    TopicTemplate("v2.analytics.queues.{id}.observations", "Queue observations", "queue"),
    TopicTemplate(
        "v2.detail.events.conversation.{id}.{event}", "Conversation detail event", "conversation", "conversationId"
    ),
    TopicTemplate("v2.audits.entitytype.{type}.entityid.{id}", "Audit of one entity", "audit"),
)

_PATTERNS = tuple((t, t.pattern) for t in TOPIC_TEMPLATES)
SYSTEM_PREFIX = "v2.system."


def expand_combined(topic: str) -> list[str]:
    """``v2.users.X?presence&routingStatus`` -> the two full topic names; a plain topic -> itself."""
    if "?" not in topic:
        return [topic]
    prefix, _, suffixes = topic.partition("?")
    return [f"{prefix}.{suffix}" for suffix in suffixes.split("&") if suffix]


@functools.lru_cache(maxsize=65_536)
def match_template(topic: str) -> tuple[TopicTemplate, Mapping[str, str]] | None:
    """The template a topic is an instance of, with its parameters (cached: every event asks, and topics repeat)."""
    for template, pattern in _PATTERNS:
        found = pattern.match(topic)
        if found:
            return template, found.groupdict()
    return None


def is_known_topic(topic: str) -> bool:
    return all(match_template(t) is not None for t in expand_combined(topic))


@functools.lru_cache(maxsize=65_536)
def entity_ids(topic: str) -> Mapping[str, str]:
    """The conversation, user or queue id a topic names, e.g. ``{"user": "abc"}``; empty if none (cached: topics repeat)."""
    matched = match_template(topic)
    if matched is None:
        return {}
    template, groups = matched
    if template.entity == "audit":
        return {"audit": f"{groups['type']}/{groups['id']}"}
    return {template.entity: groups["id"]}


def conversation_of(topic: str, body: Any) -> str | None:
    """The conversation a notification is about: named by its topic (detail events), or by its body on a user's or
    a queue's conversation topics (the conversation snapshot's ``id``); None for any other topic."""
    matched = match_template(topic)
    if matched is None:
        return None
    template, groups = matched
    if template.entity == "conversation":
        return groups["id"]
    field = template.conversation_field
    value = body.get(field) if field is not None and isinstance(body, dict) else None
    return value if isinstance(value, str) and value else None


def expand_template(template: str, ids: Iterable[str]) -> list[str]:
    """``v2.users.{id}.presence`` with ids -> one topic per id (order kept, duplicates dropped)."""
    if "{id}" not in template:
        raise ValueError(f"topic template {template!r} has no {{id}} placeholder")
    return list(dict.fromkeys(template.replace("{id}", i) for i in ids))


def detail_type(topic: str) -> str | None:
    """The EventBridge ``detail-type`` Genesys gives a topic's events: its template with every parameter as ``{id}``
    (``v2.audits.entitytype.{id}.entityid.{id}``); the detail-event name is part of the topic, not a parameter.
    None for a topic no known template matches."""
    matched = match_template(topic)
    if matched is None:
        return None
    template, groups = matched
    named = template.template.replace("{type}", "{id}")
    return named.replace("{event}", groups["event"]) if "event" in groups else named
