"""The cached timestamp writers give exactly what datetime gives, at every rounding edge."""

from __future__ import annotations

import random
from datetime import UTC, datetime

from genesys.timefmt import iso_ms, utc_hour


def reference_iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def test_iso_and_hour_equal_datetimes_on_random_moments_and_edges():
    """Given random moments and ones a hair before a second or an hour ends, both agree with datetime."""
    rng = random.Random(3)
    moments = [rng.uniform(0, 4e9) for _ in range(50_000)]
    moments += [h * 3600 - d for h in (499_000, 499_001) for d in (0.0, 1e-7, 4e-7, 5e-7, 6e-7, 0.0005, 0.999999)]
    moments += [1_796_000_000 + n * 0.0001 for n in range(20_000)]  # many in one second: the cache's path
    for epoch in moments:
        assert iso_ms(epoch) == reference_iso(epoch), epoch
        assert utc_hour(epoch) == datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H"), epoch
