"""ISO-8601 timestamps in UTC, written and read one way everywhere."""

from __future__ import annotations

from datetime import UTC, datetime


def iso_ms(epoch_seconds: float) -> str:
    """``2026-12-01T09:30:00.123Z``: millisecond precision, always UTC with a ``Z``."""
    return datetime.fromtimestamp(epoch_seconds, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_iso(text: str) -> datetime:
    """An ISO-8601 timestamp; ``Z`` accepted; a naive value is taken as UTC. Raises ValueError."""
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
