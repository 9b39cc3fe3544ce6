"""Verification against ground truth: every event published on our topics while covered is stored exactly once."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import httpx

from evidence.arrivals import ordinal_key
from evidence.keys import envelope_key


@dataclass(frozen=True)
class Verification:
    published: int  # notifications on the followed topics published inside the window
    stored: int  # of those, how many have their item in the table
    lost: int
    duplicates: int  # items for an event key seen more than once (must be 0)
    extra: int  # event items that match no published notification at all (must be 0)
    repeated: int = 0  # of the published, how many repeat an earlier notification's content (each is kept)
    lost_events: list[dict[str, Any]] = field(default_factory=list)
    in_gaps: int = 0  # not stored, but published inside a gap the ledger reports: known, not lost

    @property
    def ok(self) -> bool:
        return self.lost == 0 and self.duplicates == 0 and self.extra == 0


def verify(
    truth: Iterable[dict[str, Any]],
    stored_keys: Iterable[str],
    topics: set[str],
    window: tuple[float, float],
    gaps: Iterable[tuple[float, float]] = (),
) -> Verification:
    """``truth``: emulator records (topic, envelope, published_at); ``stored_keys``: pk of every event item;
    ``gaps``: the intervals the ledger reports uncovered: an event missing from the table but published inside
    one is counted ``in_gaps``, not lost (the bridge said it could not vouch for those seconds).

    A content published m times is kept as m items, the event key and its ordinal keys (evidence/arrivals.py):
    which notification took which ordinal is the arrival order, so the count is compared, and the latest of a
    content's notifications are the ones called missing."""
    start, end = window
    reported = list(gaps)
    published: Counter[str] = Counter()
    expected: dict[str, list[dict[str, Any]]] = {}
    for record in truth:
        key = envelope_key(record["envelope"])
        published[key] += 1
        if record["topic"] in topics and start <= record["published_at"] < end:
            expected.setdefault(key, []).append(record)
    counts = Counter(k for k in stored_keys if not k.startswith("quarantine#"))
    valid = {ordinal_key(key, n) for key, total in published.items() for n in range(1, total + 1)}
    missing: list[dict[str, Any]] = []
    for key, records in expected.items():
        kept = sum(1 for n in range(1, published[key] + 1) if ordinal_key(key, n) in counts)
        if kept < len(records):
            missing.extend(records[kept - len(records) :])
    lost = [r for r in missing if not any(s <= r["published_at"] <= e for s, e in reported)]
    total = sum(len(records) for records in expected.values())
    return Verification(
        published=total,
        stored=total - len(missing),
        lost=len(lost),
        duplicates=sum(c - 1 for c in counts.values() if c > 1),
        extra=sum(1 for key in counts if key not in valid),
        repeated=sum(len(records) - 1 for records in expected.values()),
        lost_events=lost[:20],
        in_gaps=len(missing) - len(lost),
    )


def fetch_ground_truth(base_url: str, since: int = 0) -> list[dict[str, Any]]:
    """Every event an emulator published after sequence number ``since``, page by page."""
    events: list[dict[str, Any]] = []
    with httpx.Client(timeout=30) as http:
        while True:
            page = http.get(f"{base_url}/_emulator/events", params={"since": since, "limit": 5000}).json()
            events.extend(page["events"])
            if not page["events"]:
                return events
            since = page["next"]
