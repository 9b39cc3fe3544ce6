"""Verification against ground truth: every event published on our topics while covered is stored exactly once."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import httpx

from evidence.keys import envelope_key


@dataclass(frozen=True)
class Verification:
    published: int  # events on the followed topics published inside the window
    stored: int  # of those, how many are in the table
    lost: int
    duplicates: int  # items for an event key seen more than once (must be 0)
    extra: int  # event items that match no published event at all (must be 0)
    collapsed: int = 0  # distinct published events that share a key, so would share one item (must be 0)
    lost_events: list[dict[str, Any]] = field(default_factory=list)
    in_gaps: int = 0  # not stored, but published inside a gap the ledger reports: known, not lost

    @property
    def ok(self) -> bool:
        return self.lost == 0 and self.duplicates == 0 and self.extra == 0 and self.collapsed == 0


def verify(
    truth: Iterable[dict[str, Any]],
    stored_keys: Iterable[str],
    topics: set[str],
    window: tuple[float, float],
    gaps: Iterable[tuple[float, float]] = (),
) -> Verification:
    """``truth``: emulator records (topic, envelope, published_at); ``stored_keys``: pk of every event item;
    ``gaps``: the intervals the ledger reports uncovered: an event missing from the table but published inside
    one is counted ``in_gaps``, not lost (the bridge said it could not vouch for those seconds)."""
    reported = list(gaps)
    start, end = window
    all_published: set[str] = set()
    expected: dict[str, dict[str, Any]] = {}
    collapsed = 0
    for record in truth:
        key = envelope_key(record["envelope"])
        all_published.add(key)
        if record["topic"] in topics and start <= record["published_at"] < end:
            collapsed += key in expected  # two notifications, one key: the key would lose one of them
            expected[key] = record
    counts = Counter(k for k in stored_keys if not k.startswith("quarantine#"))
    missing = [record for key, record in expected.items() if key not in counts]
    lost = [r for r in missing if not any(s <= r["published_at"] <= e for s, e in reported)]
    return Verification(
        published=len(expected),
        stored=len(expected) - len(missing),
        lost=len(lost),
        in_gaps=len(missing) - len(lost),
        duplicates=sum(c - 1 for c in counts.values() if c > 1),
        extra=sum(1 for key in counts if key not in all_published),
        collapsed=collapsed,
        lost_events=lost[:20],
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
