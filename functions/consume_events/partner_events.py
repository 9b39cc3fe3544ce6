"""Genesys' partner events as EventBridge delivers them (through SQS): the envelope, checked, and its notification."""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from evidence.arrivals import EVENTBRIDGE
from evidence.frames import FrameKind, classify
from evidence.records import Received
from genesys.timefmt import parse_iso
from genesys.validation import describe

SOURCE_PATTERN = re.compile(r"^aws\.partner/genesys\.com/cloud/[0-9a-fA-F-]{1,64}/[A-Za-z0-9._-]{1,64}$")


class MalformedPartnerEvent(ValueError):
    """Not a Genesys partner event this bridge can store as a notification; the message says why."""


class PartnerEvent(BaseModel):
    """``{"version", "id", "detail-type", "source", "account", "time", "region", "resources", "detail"}``."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)
    id: str = Field(min_length=1, description="assigned by EventBridge: a redelivery keeps it")
    detail_type: str = Field(alias="detail-type", min_length=1)
    source: str = Field(pattern=SOURCE_PATTERN.pattern)
    time: str = ""
    detail: dict[str, Any]


def notification(body: str, orgs: dict[str, str], received_at: float) -> Received:
    """The notification an SQS message carries, as the worker would have received it from a socket.

    ``orgs`` maps partner event source names to org names. The stored envelope is ``detail`` (the websocket
    envelope plus ``timestamp``); its key is the websocket copy's key, so the two copies are one item.
    """
    try:
        event = PartnerEvent.model_validate_json(body)
    except ValidationError as exc:
        raise MalformedPartnerEvent(f"not an EventBridge partner event: {describe(exc)}") from None
    org = orgs.get(event.source)
    if org is None:
        raise MalformedPartnerEvent(f"partner event source {event.source} is not configured for any org")
    raw = json.dumps(event.detail, separators=(",", ":"), ensure_ascii=False)
    frame = classify(raw)
    if frame.kind is not FrameKind.EVENT:
        raise MalformedPartnerEvent(f"detail is not a notification: {frame.reason or frame.kind.value}")
    return Received.of(
        raw,
        frame.envelope,
        f"eventbridge:{event.id}",
        EVENTBRIDGE,
        org,
        received_at,
        EVENTBRIDGE,
        key=frame.key,
        event_at=event_time(event.detail),
    )


def event_time(detail: dict[str, Any]) -> float | None:
    """``detail.timestamp`` (ISO, milliseconds), when Genesys gave one: an event delivered days late after an
    outage keeps the time it happened. None when missing or unreadable (the receive time stands in)."""
    stamp = detail.get("timestamp")
    if not isinstance(stamp, str):
        return None
    try:
        return parse_iso(stamp).timestamp()
    except ValueError:
        return None
