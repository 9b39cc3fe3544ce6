"""What a fleet gap is worth as evidence: whether that org's EventBridge path stood in for the sockets during it.

EventBridge keeps no ledger, so the judgement rests on what it delivered. A gap counts as covered by EventBridge
only when the shard's own org's EventBridge path delivered events that happened during it (by their own time,
``detail.timestamp``) and their times leave no stretch of the gap longer than the silence its traffic allows: at
most the 15 minutes after which the ``EventBridgeSilent`` alarm calls the path broken, and less for a busy table.
With notifications arriving at r per second before the gap, a stretch of 14 / r seconds without one has a chance of
about one in a million (e^-14) if the path is carrying them: a longer one means the path was not.
Deliveries of another org never count, and a path that delivered once and then went quiet leaves the gap uncovered.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

from evidence.coverage import FleetCoverage, merge
from evidence.queries import EventQueries
from genesys.timefmt import iso_ms

EVENTBRIDGE_SILENCE_S = 15 * 60  # the EventBridgeSilent alarm's period: quieter than this, the path is not trusted
EVENTBRIDGE_LATENCY_S = 300.0  # how late a partner event may arrive after its own time and still be looked for
QUIET_FACTOR = 14.0  # e^-14: the chance of so long a silence from a path that carries the traffic
RATE_WINDOW_S = 600.0  # the traffic before a gap that sets its silence limit
COVERED_BY_EVENTBRIDGE = "covered by EventBridge"
UNCOVERED = "uncovered"


def org_of(shard: str) -> str:
    """Shard ids are ``<org>:<n>``."""
    return shard.rpartition(":")[0] or shard


@dataclass(frozen=True)
class Gap:
    shard: str
    start: float
    end: float
    eventbridge_events: int  # events of the gap's seconds the org's EventBridge path delivered
    eventbridge_silence: float  # the longest stretch of the gap without one, in seconds
    silence_limit: float = EVENTBRIDGE_SILENCE_S  # what the table's traffic before the gap allows

    @property
    def seconds(self) -> float:
        return round(self.end - self.start, 3)

    @property
    def classification(self) -> str:
        trusted = self.eventbridge_events and self.eventbridge_silence <= self.silence_limit
        return COVERED_BY_EVENTBRIDGE if trusted else UNCOVERED


def judge(
    shard: str, start: float, end: float, deliveries: Sequence[float], silence_limit: float = EVENTBRIDGE_SILENCE_S
) -> Gap:
    """The gap [start, end] of ``shard`` against its org's EventBridge delivery times (sorted, seconds)."""
    lo = bisect.bisect_left(deliveries, start)
    hi = bisect.bisect_right(deliveries, end)
    inside = deliveries[lo:hi]
    marks = [start, *inside, end]
    silence = max(b - a for a, b in pairwise(marks))
    return Gap(shard, start, end, len(inside), round(silence, 3), round(silence_limit, 3))


def silence_limit(rate: float) -> float:
    """The longest silence a path carrying ``rate`` notifications per second explains (at most the alarm's)."""
    return EVENTBRIDGE_SILENCE_S if rate <= 0 else min(EVENTBRIDGE_SILENCE_S, QUIET_FACTOR / rate)


def classify(
    gaps: Mapping[str, Sequence[tuple[float, float]]],
    deliveries: Mapping[str, Sequence[float]],
    limit: Callable[[float], float] = lambda start: EVENTBRIDGE_SILENCE_S,
) -> list[Gap]:
    """Every shard's gaps judged against ``deliveries`` (org -> EventBridge event times); ``limit(start)``: the
    silence the traffic before a gap allows."""
    ordered = {org: sorted(times) for org, times in deliveries.items()}
    return [
        judge(shard, a, b, ordered.get(org_of(shard), []), limit(a))
        for shard, spans in sorted(gaps.items())
        for a, b in spans
    ]


def traffic_limit(queries: EventQueries) -> Callable[[float], float]:
    """``limit(start)`` from the events stored (every path, every org: the stricter reading) in the ten minutes
    before a gap, from the time index."""

    def limit(start: float) -> float:
        times = [
            int(i["received_ms"]) / 1000
            for i in queries.by_window(start - RATE_WINDOW_S, start)
            if i.get("kind", "event") == "event"
        ]
        if not times:
            return silence_limit(0.0)
        observed = max(start - min(times), 1.0)  # a table younger than the window: its own age
        return silence_limit(len(times) / observed)

    return limit


def eventbridge_deliveries(
    queries: EventQueries, spans: Iterable[tuple[float, float]], listed: Iterable[dict[str, Any]] | None = None
) -> dict[str, list[float]]:
    """Per org, the event times (EventBridge's ``detail.timestamp``, kept as ``event_ms``) of the events the
    EventBridge path stored that happened inside ``spans`` (the gaps). An event proves the path carried its own
    moment, not the moment it arrived: a partner event of before the gap that arrives during it proves nothing
    about the gap. Items are looked for up to ``EVENTBRIDGE_LATENCY_S`` after each span (the path is late), from
    ``listed`` (time-index items already read for a wider window) or the time index itself; only those are read
    whole (the index carries neither the org nor the event time).
    """
    merged = merge(spans)
    reach = merge((a, b + EVENTBRIDGE_LATENCY_S) for a, b in merged)
    if listed is None:
        listed = (i for a, b in reach for i in queries.by_window(a, b))
    candidates = [
        i
        for i in listed
        if i.get("kind", "event") == "event"
        and i.get("source") == "eventbridge"
        and any(a <= int(i["received_ms"]) / 1000 <= b for a, b in reach)
    ]
    deliveries: dict[str, list[float]] = {}
    for item in queries.full(candidates):
        at = int(item.get("event_ms", item["received_ms"])) / 1000
        if any(a <= at <= b for a, b in merged):
            deliveries.setdefault(str(item.get("org", "")), []).append(at)
    return deliveries


def judged_gaps(
    queries: EventQueries, coverage: dict[str, FleetCoverage], listed: Iterable[dict[str, Any]] | None = None
) -> list[Gap]:
    """Every shard's fleet gaps, each judged against its own org's EventBridge deliveries (evidence/gaps.py)."""
    return judge_spans(queries, {shard: fleet.gaps for shard, fleet in coverage.items()}, listed)


def judge_spans(
    queries: EventQueries,
    spans: Mapping[str, Sequence[tuple[float, float]]],
    listed: Iterable[dict[str, Any]] | None = None,
) -> list[Gap]:
    """Gaps per shard, each judged against its org's EventBridge deliveries and the traffic before it."""
    gaps = [g for found in spans.values() for g in found]
    if not gaps:
        return []
    return classify(spans, eventbridge_deliveries(queries, gaps, listed), traffic_limit(queries))


# ---------------------------------------------------------------------------------------------------------------
# gap records: one per uncovered interval per shard, in the coverage table (partition ``_gaps``)

GAPS_PARTITION = "_gaps"
PENDING, REPAIRED, PARTIAL, UNREPAIRABLE = "pending", "repaired", "partial", "unrepairable"
NOT_NEEDED = "not needed"  # covered by EventBridge: nothing to rebuild


def gap_id(shard: str, start: float) -> str:
    """``<shard>@<start ms>``: stable across re-judgements of the same window."""
    return f"{shard}@{round(start * 1000)}"


def gap_sort_key(shard: str, start: float) -> str:
    return f"{shard}#{round(start * 1000):015d}"


@dataclass
class GapRecord:
    shard: str
    start: float
    end: float
    classification: str
    eventbridge_events: int = 0
    topics: int = 0  # how many topics the shard carried when the gap was recorded
    status: str = PENDING
    final: bool = False  # repaired again after Genesys' nightly reprocessing (48 h): nothing will change
    repaired_at: float | None = None
    rebuilt: dict[str, int] | None = None  # per topic kind: reconstructions stored
    reasons: list[str] | None = None  # why partial or unrepairable, one line each

    @property
    def id(self) -> str:
        return gap_id(self.shard, self.start)

    @property
    def org(self) -> str:
        return org_of(self.shard)

    @property
    def seconds(self) -> float:
        return round(self.end - self.start, 3)

    def item(self) -> dict[str, Any]:
        """DynamoDB attribute values (the coverage table's key: ``_gaps`` and ``<shard>#<start ms>``)."""
        item: dict[str, Any] = {
            "shard": {"S": GAPS_PARTITION},
            "session": {"S": gap_sort_key(self.shard, self.start)},
            "gap_id": {"S": self.id},
            "gap_shard": {"S": self.shard},
            "org": {"S": self.org},
            "start_ms": {"N": str(round(self.start * 1000))},
            "end_ms": {"N": str(round(self.end * 1000))},
            "classification": {"S": self.classification},
            "eventbridge_events": {"N": str(self.eventbridge_events)},
            "topics": {"N": str(self.topics)},
            "status": {"S": self.status},
            "final": {"BOOL": self.final},
        }
        if self.repaired_at is not None:
            item["repaired_ms"] = {"N": str(int(self.repaired_at * 1000))}
        if self.rebuilt is not None:
            item["rebuilt"] = {"M": {k: {"N": str(v)} for k, v in sorted(self.rebuilt.items())}}
        if self.reasons:
            item["reasons"] = {"L": [{"S": r} for r in self.reasons]}
        return item

    @classmethod
    def of(cls, item: Mapping[str, Any]) -> GapRecord:
        return cls(
            shard=item["gap_shard"]["S"],
            start=int(item["start_ms"]["N"]) / 1000,
            end=int(item["end_ms"]["N"]) / 1000,
            classification=item["classification"]["S"],
            eventbridge_events=int(item.get("eventbridge_events", {}).get("N", "0")),
            topics=int(item.get("topics", {}).get("N", "0")),
            status=item.get("status", {}).get("S", PENDING),
            final=bool(item.get("final", {}).get("BOOL", False)),
            repaired_at=int(item["repaired_ms"]["N"]) / 1000 if "repaired_ms" in item else None,
            rebuilt={k: int(v["N"]) for k, v in item["rebuilt"]["M"].items()} if "rebuilt" in item else None,
            reasons=[r["S"] for r in item["reasons"]["L"]] if "reasons" in item else None,
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "gap_id": self.id,
            "shard": self.shard,
            "start": iso_ms(self.start),
            "end": iso_ms(self.end),
            "seconds": self.seconds,
            "classification": self.classification,
            "status": self.status,
            "final": self.final,
            "repaired_at": iso_ms(self.repaired_at) if self.repaired_at is not None else None,
            "rebuilt": self.rebuilt or {},
            "reasons": self.reasons or [],
        }


def recorded(gap: Gap, topics: int) -> GapRecord:
    """A judged gap as first recorded: pending repair unless EventBridge stood in."""
    covered = gap.classification == COVERED_BY_EVENTBRIDGE
    return GapRecord(
        gap.shard,
        gap.start,
        gap.end,
        gap.classification,
        gap.eventbridge_events,
        topics,
        status=NOT_NEEDED if covered else PENDING,
    )
