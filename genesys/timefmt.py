"""ISO-8601 timestamps in UTC, written and read one way everywhere."""

from __future__ import annotations

import math
from datetime import UTC, datetime

# every event item carries two timestamps: formatting each from scratch is a tenth of the worker's CPU per event,
# so the part that changes once a second (or once an hour) is kept; the last value of each, shared by all threads
_second: tuple[int, str] = (-1, "")
_hour: tuple[int, str] = (-1, "")


def _split(epoch_seconds: float) -> tuple[int, int]:
    """Whole seconds and microseconds, rounded exactly as ``datetime.fromtimestamp`` rounds (half to even)."""
    fraction, whole = math.modf(epoch_seconds)
    micros = round(fraction * 1e6)
    seconds = int(whole)
    if micros >= 1_000_000:
        seconds, micros = seconds + 1, micros - 1_000_000
    elif micros < 0:
        seconds, micros = seconds - 1, micros + 1_000_000
    return seconds, micros


def iso_ms(epoch_seconds: float) -> str:
    """``2026-12-01T09:30:00.123Z``: millisecond precision (truncated, as ``isoformat`` does), always UTC."""
    global _second
    seconds, micros = _split(epoch_seconds)
    cached = _second
    if cached[0] != seconds:
        cached = _second = (seconds, datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S"))
    return f"{cached[1]}.{micros // 1000:03d}Z"


def utc_hour(epoch_seconds: float) -> str:
    """``2026-12-01T09``: the UTC hour a moment falls in."""
    global _hour
    hour = _split(epoch_seconds)[0] // 3600
    cached = _hour
    if cached[0] != hour:
        cached = _hour = (hour, datetime.fromtimestamp(hour * 3600, UTC).strftime("%Y-%m-%dT%H"))
    return cached[1]


def parse_iso(text: str) -> datetime:
    """An ISO-8601 timestamp; ``Z`` accepted; a naive value is taken as UTC. Raises ValueError."""
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
