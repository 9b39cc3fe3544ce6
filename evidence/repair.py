"""What a gap may have hidden, rebuilt from Genesys REST where Genesys can rebuild it (adapters elsewhere).

A shard's topics say what to ask for: its queues' and users' conversations (Analytics conversation details), its
users' presence and routing status (Analytics user details), its audited entities (Audits). Every state change
those APIs place inside the gap becomes one ``reconstruction`` item: the topic it stands for, the event time, the
API and request that produced it, the record, and the fields a notification would have carried that REST cannot
give. Reconstructions are never notifications: they have their own kind and source, and a late notification for
the same seconds is stored beside them as usual.

Status: ``repaired`` (every topic kind of the shard has a REST source and each answered), ``partial`` (some kind
has no source, or some source failed), ``unrepairable`` (nothing could be asked or nothing answered), each with its
reasons. A repaired gap is repaired again once Genesys' nightly reprocessing has passed (48 h), then ``final``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from evidence.gap_table import GapTable
from evidence.gaps import NOT_NEEDED, PARTIAL, PENDING, REPAIRED, UNREPAIRABLE, GapRecord
from evidence.records import reconstruction_item
from evidence.store import EventStore, Rejected, Stored
from genesys.errors import BadCredentialsError, GenesysError
from genesys.timefmt import parse_iso
from genesys.topics import match_template

SETTLE_SECONDS = 600.0  # a gap is repaired once its window's analytics have settled
FINAL_AFTER = 48 * 3600.0  # Genesys reprocesses data at least 48 hours old nightly
CONVERSATIONS, USERS, AUDITS = "conversations", "users", "audits"
# what a notification carries that the REST record cannot give back, per topic kind
MISSING = {
    "conversations": ["the notification's exact snapshot of the conversation", "metadata.CorrelationId"],
    "presence": ["message", "source", "modifiedDate", "metadata.CorrelationId"],
    "routingStatus": ["metadata.CorrelationId"],
    "audits": ["metadata.CorrelationId"],
}


class Api(Protocol):
    requests: list[dict[str, Any]]

    def conversations(
        self, start: float, end: float, *, dimension: str | None = None, values: list[str] | None = None
    ) -> list[dict[str, Any]]: ...

    def users(self, start: float, end: float, user_ids: list[str]) -> list[dict[str, Any]]: ...

    def audits(self, start: float, end: float, service: str | None = None) -> list[dict[str, Any]]: ...

    def availability(self) -> float: ...


@dataclass
class Plan:
    """What a shard's topics ask of each source, and the topics no source can rebuild."""

    queues: dict[str, str] = field(default_factory=dict)  # queue id -> topic
    user_conversations: dict[str, str] = field(default_factory=dict)
    presence: dict[str, str] = field(default_factory=dict)  # user id -> topic
    routing: dict[str, str] = field(default_factory=dict)
    audited: dict[tuple[str, str], str] = field(default_factory=dict)  # (entity type, id) -> topic
    unsourced: dict[str, int] = field(default_factory=dict)  # topic template -> how many topics

    @classmethod
    def of(cls, topics: list[str]) -> Plan:
        plan = cls()
        for topic in topics:
            matched = match_template(topic)
            template = matched[0].template if matched else topic
            ids = matched[1] if matched else {}
            if template == "v2.routing.queues.{id}.conversations":
                plan.queues[ids["id"]] = topic
            elif template == "v2.users.{id}.conversations":
                plan.user_conversations[ids["id"]] = topic
            elif template == "v2.users.{id}.presence":
                plan.presence[ids["id"]] = topic
            elif template == "v2.users.{id}.routingStatus":
                plan.routing[ids["id"]] = topic
            elif template.startswith("v2.audits.entitytype"):
                plan.audited[(ids.get("type", ""), ids.get("id", ""))] = topic
            else:
                plan.unsourced[template] = plan.unsourced.get(template, 0) + 1
        return plan


@dataclass(frozen=True)
class Reconstruction:
    gap_id: str
    topic: str  # the notification topic it stands for
    kind: str  # conversations, presence, routingStatus, audits
    event_at: float
    identity: str  # what it is in its API (conversation id, user id, audit id)
    api: str
    request: dict[str, Any]
    record: dict[str, Any]

    @property
    def key(self) -> str:
        """One per gap, topic, identity, time and content: a re-run stores nothing twice, and data Genesys changed
        in its reprocessing is stored beside what was rebuilt first."""
        content = json.dumps(self.record, sort_keys=True)
        basis = f"{self.gap_id}|{self.topic}|{self.identity}|{self.event_at:.3f}|{content}"
        return "reconstruction#" + hashlib.sha256(basis.encode()).hexdigest()


class StoreRefused(Exception):
    """A reconstruction the table would not take (it fails the repair run; the gap stays as it was)."""


class Store(Protocol):
    def put(self, reconstruction: Reconstruction, gap: GapRecord, *, final: bool, rebuilt_at: float) -> bool: ...


def due(gap: GapRecord, now: float, availability: float | None) -> bool:
    """First repair once settled and within the data Genesys says is available; the final one after 48 h."""
    if gap.status == PENDING:
        settled = now - gap.end >= SETTLE_SECONDS
        return settled and (availability is None or gap.end <= availability)
    return gap.status in (REPAIRED, PARTIAL, UNREPAIRABLE) and not gap.final and now - gap.end >= FINAL_AFTER


def _at(stamp: Any) -> float | None:
    try:
        return parse_iso(stamp).timestamp() if isinstance(stamp, str) else None
    except ValueError:
        return None


def _within(stamp: Any, gap: GapRecord) -> float | None:
    """The time a record's stamp names, when it lies inside the gap."""
    at = _at(stamp)
    return at if at is not None and gap.start <= at < gap.end else None


class Repairer:
    def __init__(self, store: Store, clock: Callable[[], float]) -> None:
        self._store = store
        self._clock = clock

    def repair(self, gap: GapRecord, topics: list[str], api: Api) -> GapRecord:
        """Ask every source the shard's topics need, store what lies inside the gap, and say how it went."""
        now = self._clock()
        final = gap.status != PENDING  # the 48-hour pass
        plan = Plan.of(topics)
        rebuilt: dict[str, int] = {}
        reasons = [f"not rebuilt from REST: {t} ({n} topic(s))" for t, n in sorted(plan.unsourced.items())]
        asked = failed = 0
        for name, job in self._jobs(plan):
            asked += 1
            try:
                found = job(gap, api)
            except BadCredentialsError as exc:
                if exc.status == 401:
                    raise  # the token itself was refused: nothing is known of the gap yet, it stays pending
                failed += 1
                reasons.append(f"{name}: {exc} (grant the OAuth client the permission it names)")
                continue
            except GenesysError as exc:
                failed += 1
                reasons.append(f"{name}: {exc}")
                continue
            for reconstruction in found:
                if self._store.put(reconstruction, gap, final=final, rebuilt_at=now):
                    rebuilt[reconstruction.kind] = rebuilt.get(reconstruction.kind, 0) + 1
                else:
                    rebuilt.setdefault(reconstruction.kind, 0)
        if not topics:
            reasons.append("the shard's topics are not recorded (its task predates this version)")
        status = UNREPAIRABLE if asked == 0 or failed == asked else PARTIAL if failed or plan.unsourced else REPAIRED
        merged = dict(gap.rebuilt or {})
        for kind, count in rebuilt.items():
            merged[kind] = merged.get(kind, 0) + count
        return dataclasses.replace(
            gap,
            topics=gap.topics or len(topics),
            status=status,
            final=final,
            repaired_at=now,
            rebuilt=merged,
            reasons=reasons or None,
        )

    @staticmethod
    def _jobs(plan: Plan) -> list[tuple[str, Callable[[GapRecord, Api], list[Reconstruction]]]]:
        jobs: list[tuple[str, Callable[[GapRecord, Api], list[Reconstruction]]]] = []
        if plan.queues or plan.user_conversations:
            jobs.append(("conversation details", lambda gap, api: _conversations(gap, api, plan)))
        if plan.presence or plan.routing:
            jobs.append(("user details", lambda gap, api: _users(gap, api, plan)))
        if plan.audited:
            jobs.append(("audits", lambda gap, api: _audits(gap, api, plan)))
        return jobs


def _conversations(gap: GapRecord, api: Api, plan: Plan) -> list[Reconstruction]:
    """A segment that began inside the gap, on a queue or with a user the shard follows, stands for one
    notification on that queue's or user's conversations topic."""
    found: dict[str, dict[str, Any]] = {}
    for dimension, wanted in (("queueId", plan.queues), ("userId", plan.user_conversations)):
        if wanted:
            for record in api.conversations(gap.start, gap.end, dimension=dimension, values=sorted(wanted)):
                found[str(record.get("conversationId"))] = record
    request = api.requests[-1] if api.requests else {}
    out: dict[tuple[str, str, float], Reconstruction] = {}
    for conversation_id, record in found.items():
        for participant in record.get("participants", []):
            for session in participant.get("sessions", []):
                for segment in session.get("segments", []):
                    at = _within(segment.get("segmentStart"), gap)
                    if at is None:
                        continue
                    topics = [
                        plan.queues.get(str(segment.get("queueId"))),
                        plan.user_conversations.get(str(participant.get("userId"))),
                    ]
                    for topic in filter(None, topics):
                        out[(topic, conversation_id, at)] = Reconstruction(
                            gap.id, topic, CONVERSATIONS, at, conversation_id, "analytics conversation details",
                            request, {"conversationId": conversation_id, "conversationStart": record.get("conversationStart"),
                                      "participant": {k: v for k, v in participant.items() if k != "sessions"},
                                      "segment": segment, "mediaType": session.get("mediaType")},
                        )  # fmt: skip
    return list(out.values())


def _users(gap: GapRecord, api: Api, plan: Plan) -> list[Reconstruction]:
    """A presence or routing-status interval that began inside the gap stands for one notification of it."""
    users = sorted(set(plan.presence) | set(plan.routing))
    records = api.users(gap.start, gap.end, users)
    request = api.requests[-1] if api.requests else {}
    out = []
    for record in records:
        user = str(record.get("userId"))
        for name, kind, topics in (
            ("primaryPresence", "presence", plan.presence),
            ("routingStatus", "routingStatus", plan.routing),
        ):
            topic = topics.get(user)
            if topic is None:
                continue
            for interval in record.get(name, []):
                at = _within(interval.get("startTime"), gap)
                if at is not None:
                    out.append(Reconstruction(gap.id, topic, kind, at, user, "analytics user details", request,
                                              {"userId": user, name: interval}))  # fmt: skip
    return out


def _audits(gap: GapRecord, api: Api, plan: Plan) -> list[Reconstruction]:
    records = api.audits(gap.start, gap.end)
    request = api.requests[-1] if api.requests else {}
    out = []
    for record in records:
        entity = record.get("entity") or {}
        topic = plan.audited.get((str(record.get("entityType", "")), str(entity.get("id", ""))))
        at = _within(record.get("eventDate"), gap)
        if topic and at is not None:
            out.append(
                Reconstruction(gap.id, topic, AUDITS, at, str(record.get("id")), "audits query", request, record)
            )
    return out


class ReconstructionStore:
    """Reconstructions into the events table through the conditional put: a re-run stores nothing twice."""

    def __init__(self, store: EventStore) -> None:
        self._store = store

    def put(self, reconstruction: Reconstruction, gap: GapRecord, *, final: bool, rebuilt_at: float) -> bool:
        """True when stored now, False when an earlier run stored it; a refusal by the store raises."""
        item = reconstruction_item(
            reconstruction.key,
            topic=reconstruction.topic,
            event_at=reconstruction.event_at,
            gap_id=gap.id,
            shard=gap.shard,
            org=gap.org,
            api=reconstruction.api,
            request=reconstruction.request,
            record=reconstruction.record,
            missing=MISSING[reconstruction.kind],
            final=final,
            rebuilt_at=rebuilt_at,
        )
        outcome = self._store.put_new(reconstruction.key, item, None)
        if isinstance(outcome, Rejected):
            raise StoreRefused(f"the store refused a reconstruction: {outcome.reason}")
        return isinstance(outcome, Stored)


LOOK_BACK = 9 * 86_400.0  # gaps this old are still looked at: past their final 48-hour pass with days to spare


def run_repairs(
    gaps: GapTable,
    api_for: Callable[[str], Api],
    store: Store,
    clock: Callable[[], float],
    *,
    gap_id: str | None = None,
) -> list[GapRecord]:
    """Repair every due gap (or the one named, due or not: a repair by hand); the records as saved."""
    now = clock()
    if gap_id is not None:
        found = gaps.gap(gap_id)
        if found is None:
            raise KeyError(f"no gap {gap_id!r}")
        chosen = [found]
    else:
        chosen = [g for g in gaps.gaps(since=now - LOOK_BACK) if g.status != NOT_NEEDED]
    availability: dict[str, float | None] = {}
    saved = []
    for gap in chosen:
        try:
            api = api_for(gap.org)
        except GenesysError:
            continue  # no token for the org yet: the gap stays pending for the next run
        if gap_id is None:
            if gap.org not in availability:
                availability[gap.org] = _availability(api)
            if not due(gap, now, availability[gap.org]):
                continue
        try:
            repaired = Repairer(store, clock).repair(gap, gaps.shard_topics(gap.shard), api)
        except BadCredentialsError:
            if gap_id is not None:
                raise  # by hand: say so
            continue  # an expired or revoked token: the next run, with the minter's next token
        if gaps.save_gap(repaired, expected_end=gap.end):
            saved.append(repaired)
    return saved


def _availability(api: Api) -> float | None:
    """When Genesys says analytics data is complete up to; unknown (None) when it will not say."""
    try:
        return api.availability()
    except GenesysError:
        return None
