"""Genesys' REST APIs that can rebuild what a notification gap hid, served from the emulator's ground truth: the
notifications it published (../shared reference: genesys-cloud-rest-repair).

- ``POST /api/v2/analytics/conversations/details/query``: conversations that started on a UTC day the interval
  touches (as Genesys matches them), paged (default 25), an interval over 7 days refused with 400;
- ``POST /api/v2/analytics/users/details/query``: each user's presence and routing-status intervals overlapping the
  interval (7 days without filters, 31 with);
- ``GET /api/v2/analytics/conversations/details/jobs/availability``: ``dataAvailabilityDate``;
- ``POST /api/v2/audits/query`` (a transaction), ``GET .../{id}`` (its state), ``GET .../{id}/results`` (cursor).

Unknowns are switches (EmulatorConfig): a record repeated on the next page, an approximate ``totalHits``, the
availability lag, an API whose permission the client lacks (403).
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from genesys.timefmt import iso_ms, parse_iso
from genesys.topics import match_template

DAY = 86_400.0
MAX_DAYS = 7
MAX_DAYS_FILTERED = 31
DEFAULT_PAGE = 25
MAX_PAGE = 100
MAX_RESULTS = 100_000
# the permission a client needs per API, as Genesys names them in a 403's message
PERMISSIONS = {
    "conversations": "analytics:conversationDetail:view",
    "users": "analytics:userDetail:view",
    "audits": "audits:audit:view",
}


class BadRequest(ValueError):
    pass


def interval_of(body: dict[str, Any], *, max_days: int = MAX_DAYS) -> tuple[float, float]:
    """``interval`` ("start/end", ISO-8601) as epoch seconds; 400 when missing, reversed or too long."""
    raw = body.get("interval")
    if not isinstance(raw, str) or "/" not in raw:
        raise BadRequest("interval is required, as ISO-8601 start/end")
    start_text, _, end_text = raw.partition("/")
    try:
        start, end = parse_iso(start_text).timestamp(), parse_iso(end_text).timestamp()
    except ValueError as exc:
        raise BadRequest(f"interval: {exc}") from None
    if end <= start:
        raise BadRequest("interval end must follow its start")
    if end - start > max_days * DAY:
        raise BadRequest(f"You must specify a search interval that does not exceed {max_days} days")
    return start, end


def _utc_days(start: float, end: float) -> set[dt.date]:
    first = dt.datetime.fromtimestamp(start, dt.UTC).date()
    last = dt.datetime.fromtimestamp(end - 0.001, dt.UTC).date()
    return {first + dt.timedelta(days=n) for n in range((last - first).days + 1)}


@dataclass
class Ground:
    """The published notifications, turned into what the analytics and audit stores hold."""

    conversations: dict[str, dict[str, Any]] = field(default_factory=dict)
    presence: dict[str, list[tuple[float, str]]] = field(default_factory=dict)  # user -> (start, systemPresence)
    routing: dict[str, list[tuple[float, str]]] = field(default_factory=dict)  # user -> (start, status)
    audits: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def of(cls, published: Iterable[tuple[str, dict[str, Any], float]]) -> Ground:
        ground = cls()
        for topic, body, at in published:
            ground.add(topic, body, at)
        return ground

    def add(self, topic: str, body: dict[str, Any], at: float) -> None:
        matched = match_template(topic)
        template = matched[0].template if matched else ""
        groups = matched[1] if matched else {}
        if template.endswith(".presence"):
            system = str(body.get("presenceDefinition", {}).get("systemPresence", ""))
            self.presence.setdefault(groups.get("id", ""), []).append((_stamp(body.get("modifiedDate"), at), system))
        elif template.endswith(".routingStatus"):
            status = body.get("routingStatus", {})
            self.routing.setdefault(groups.get("id", ""), []).append(
                (_stamp(status.get("startTime"), at), str(status.get("status", "")))
            )
        elif template.startswith("v2.audits"):
            self.audits.append(
                {
                    "id": body.get("id"),
                    "eventDate": body.get("eventDate", iso_ms(at)),
                    "entityType": body.get("entityType"),
                    "entity": {"id": body.get("entityId")},
                    "action": body.get("action"),
                    "user": body.get("user"),
                    "serviceName": "Directory",
                    "status": "SUCCESS",
                }
            )
        elif template.endswith(".conversations") and isinstance(body.get("id"), str):
            self._conversation(body, at)

    def _conversation(self, body: dict[str, Any], at: float) -> None:
        start = _stamp(body.get("updatedAt"), at)
        record = self.conversations.setdefault(
            body["id"],
            {"conversationId": body["id"], "conversationStart": iso_ms(start), "participants": [], "_start": start},
        )
        for participant in body.get("participants", []):
            record["participants"].append(
                {
                    "participantId": participant.get("id"),
                    "purpose": participant.get("purpose"),
                    "userId": participant.get("userId"),
                    "sessions": [
                        {
                            "mediaType": body.get("mediaType"),
                            "direction": "inbound",
                            "segments": [
                                {
                                    "segmentStart": iso_ms(start),
                                    "segmentType": "interact"
                                    if participant.get("state") == "connected"
                                    else "alert"
                                    if participant.get("state") == "alerting"
                                    else "wrapup",
                                    "queueId": participant.get("queueId"),
                                }
                            ],
                        }
                    ],
                }
            )

    # -- queries -----------------------------------------------------------------------------------------------
    def conversation_details(self, start: float, end: float, body: dict[str, Any]) -> list[dict[str, Any]]:
        """Conversations that started on a UTC day the interval touches, matching the segment filters (queueId,
        userId, conversationId: any of them), ordered by start."""
        days = _utc_days(start, end)
        wanted = _filter_values(body)
        found = []
        for record in self.conversations.values():
            if dt.datetime.fromtimestamp(record["_start"], dt.UTC).date() not in days:
                continue
            if wanted and not (wanted & _conversation_values(record)):
                continue
            found.append({k: v for k, v in record.items() if not k.startswith("_")})
        return sorted(found, key=lambda r: (r["conversationStart"], r["conversationId"]))

    def user_details(self, start: float, end: float, body: dict[str, Any]) -> list[dict[str, Any]]:
        """Each user's presence and routing-status intervals that overlap [start, end]."""
        wanted = _filter_values(body)
        users = sorted(set(self.presence) | set(self.routing))
        records = []
        for user in users:
            if wanted and user not in wanted:
                continue
            presence = [
                {"startTime": iso_ms(a), **({"endTime": iso_ms(b)} if b else {}), "systemPresence": value}
                for a, b, value in _intervals(self.presence.get(user, []))
                if a < end and (b is None or b > start)
            ]
            routing = [
                {"startTime": iso_ms(a), **({"endTime": iso_ms(b)} if b else {}), "routingStatus": value}
                for a, b, value in _intervals(self.routing.get(user, []))
                if a < end and (b is None or b > start)
            ]
            if presence or routing:
                records.append({"userId": user, "primaryPresence": presence, "routingStatus": routing})
        return records

    def audit_records(self, start: float, end: float) -> list[dict[str, Any]]:
        return sorted(
            (a for a in self.audits if start <= parse_iso(a["eventDate"]).timestamp() < end),
            key=lambda a: (a["eventDate"], str(a["id"])),
        )


def _stamp(value: Any, fallback: float) -> float:
    try:
        return parse_iso(value).timestamp() if isinstance(value, str) else fallback
    except ValueError:
        return fallback


def _intervals(changes: list[tuple[float, str]]) -> list[tuple[float, float | None, str]]:
    ordered = sorted(changes)
    return [(a, ordered[i + 1][0] if i + 1 < len(ordered) else None, v) for i, (a, v) in enumerate(ordered)]


def _filter_values(body: dict[str, Any]) -> set[str]:
    """Every value a segment/conversation/user filter names (the dimensions the repair asks by)."""
    values: set[str] = set()
    for key in ("segmentFilters", "conversationFilters", "userFilters", "presenceFilters", "filter"):
        filters = body.get(key) or []
        for group in filters if isinstance(filters, list) else [filters]:
            for predicate in group.get("predicates", []) if isinstance(group, dict) else []:
                if predicate.get("value"):
                    values.add(str(predicate["value"]))
    return values


def _conversation_values(record: dict[str, Any]) -> set[str]:
    values = {record["conversationId"]}
    for participant in record["participants"]:
        values.add(str(participant.get("userId")))
        for session in participant["sessions"]:
            for segment in session["segments"]:
                values.add(str(segment.get("queueId")))
    return values


def page(
    records: list[dict[str, Any]], body: dict[str, Any], rng: random.Random, *, repeat: float, jitter: float
) -> dict[str, Any]:
    """One page as Genesys pages (``paging.pageSize``/``pageNumber``), with the switches' imperfections: a record
    of the previous page shown again (live data shifted the order), ``totalHits`` only approximate."""
    paging = body.get("paging") or {}
    size = int(paging.get("pageSize", DEFAULT_PAGE))
    number = int(paging.get("pageNumber", 1))
    if not 1 <= size <= MAX_PAGE or number < 1:
        raise BadRequest(f"pageSize must be 1..{MAX_PAGE} and pageNumber >= 1")
    if (number - 1) * size >= MAX_RESULTS:
        raise BadRequest(f"Pagination may not exceed {MAX_RESULTS} results")
    chunk = records[(number - 1) * size : number * size]
    if number > 1 and chunk and rng.random() < repeat:
        chunk = [records[(number - 1) * size - 1], *chunk]  # the previous page's last record, again
    total = len(records)
    if jitter:
        total = max(0, int(total * (1 + rng.uniform(-jitter, jitter))))
    return {"totalHits": total, "records": chunk} if chunk else {"totalHits": total}
