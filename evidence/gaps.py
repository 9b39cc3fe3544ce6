"""What a fleet gap is worth as evidence: whether that org's EventBridge path stood in for the sockets during it.

EventBridge keeps no ledger, so the judgement rests on what it delivered. A gap counts as covered by EventBridge
only when the shard's own org's EventBridge path delivered during it and was never silent for longer than the
silence limit inside it: the same 15 minutes after which the ``EventBridgeSilent`` alarm calls the path broken.
Deliveries of another org never count, and a path that delivered once and then went quiet leaves the gap uncovered.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

from evidence.coverage import FleetCoverage, merge
from evidence.queries import EventQueries

EVENTBRIDGE_SILENCE_S = 15 * 60  # the EventBridgeSilent alarm's period: quieter than this, the path is not trusted
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
    eventbridge_events: int  # the org's EventBridge deliveries inside the gap
    eventbridge_silence: float  # the longest stretch of the gap with no such delivery, in seconds

    @property
    def seconds(self) -> float:
        return round(self.end - self.start, 3)

    @property
    def classification(self) -> str:
        trusted = self.eventbridge_events and self.eventbridge_silence <= EVENTBRIDGE_SILENCE_S
        return COVERED_BY_EVENTBRIDGE if trusted else UNCOVERED


def judge(shard: str, start: float, end: float, deliveries: Sequence[float]) -> Gap:
    """The gap [start, end] of ``shard`` against its org's EventBridge delivery times (sorted, seconds)."""
    lo = bisect.bisect_left(deliveries, start)
    hi = bisect.bisect_right(deliveries, end)
    inside = deliveries[lo:hi]
    marks = [start, *inside, end]
    silence = max(b - a for a, b in pairwise(marks))
    return Gap(shard, start, end, len(inside), round(silence, 3))


def classify(gaps: Mapping[str, Sequence[tuple[float, float]]], deliveries: Mapping[str, Sequence[float]]) -> list[Gap]:
    """Every shard's gaps judged against ``deliveries`` (org -> EventBridge delivery times)."""
    ordered = {org: sorted(times) for org, times in deliveries.items()}
    return [
        judge(shard, a, b, ordered.get(org_of(shard), [])) for shard, spans in sorted(gaps.items()) for a, b in spans
    ]


def eventbridge_deliveries(
    queries: EventQueries, spans: Iterable[tuple[float, float]], listed: Iterable[dict[str, Any]] | None = None
) -> dict[str, list[float]]:
    """Per org, when the EventBridge path stored items inside ``spans`` (the gaps): from ``listed`` (time-index items
    already read for a wider window) or, without it, from the time index over each span.

    The time index does not carry the org, so only the items inside a gap are read whole (few: no socket was proven
    then). An item's receive time is when the path that stored it first delivered it.
    """
    merged = merge(spans)
    if listed is None:
        listed = (i for a, b in merged for i in queries.by_window(a, b))
    inside = [
        i
        for i in listed
        if i.get("kind", "event") == "event"
        and i.get("source") == "eventbridge"
        and any(a <= int(i["received_ms"]) / 1000 <= b for a, b in merged)
    ]
    deliveries: dict[str, list[float]] = {}
    for item in queries.full(inside):
        deliveries.setdefault(str(item.get("org", "")), []).append(int(item["received_ms"]) / 1000)
    return deliveries


def judged_gaps(
    queries: EventQueries, coverage: dict[str, FleetCoverage], listed: Iterable[dict[str, Any]] | None = None
) -> list[Gap]:
    """Every shard's fleet gaps, each judged against its own org's EventBridge deliveries (evidence/gaps.py)."""
    spans = {shard: fleet.gaps for shard, fleet in coverage.items()}
    gaps = [g for found in spans.values() for g in found]
    return classify(spans, eventbridge_deliveries(queries, gaps, listed) if gaps else {})
