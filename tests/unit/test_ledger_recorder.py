"""The ledger recorder: a session's interval from confirmation to its last known-alive moment, written idempotently."""

from __future__ import annotations

from stream_worker.ledger import LedgerRecorder
from tests.support.fakes import MemoryTable, inline


def interval(table: MemoryTable) -> list[tuple[int, int, bool]]:
    return [(int(i["start_ms"]["N"]), int(i["end_ms"]["N"]), i["open"]["BOOL"]) for i in table.items.values()]


async def test_a_session_is_recorded_from_confirmation_to_its_end():
    """Given a confirmed session kept alive then ended, the item spans confirmation to the end it was given."""
    table = MemoryTable()
    recorder = LedgerRecorder(table, "w1", inline)
    recorder.confirmed("o:0", "ch-1", 100.0)
    await recorder.flush()
    assert interval(table) == [(100_000, 100_000, True)]
    recorder.still_alive("o:0", "ch-1", 100.0, 110.0)
    await recorder.flush()
    assert interval(table) == [(100_000, 110_000, True)]
    recorder.ended("o:0", "ch-1", 100.0, 112.5, "closed")
    await recorder.flush()
    assert interval(table) == [(100_000, 112_500, False)]
    assert recorder.records == {}  # closed and written: nothing left to carry


async def test_only_changed_sessions_are_written_again():
    """Given one flush already written, a second flush with no change writes nothing."""
    table = MemoryTable()
    recorder = LedgerRecorder(table, "w1", inline)
    recorder.confirmed("o:0", "ch-1", 100.0)
    await recorder.flush()
    table.items.clear()
    await recorder.flush()
    assert table.items == {}


async def test_a_failed_write_is_retried_at_the_next_flush():
    """Given DynamoDB failing once, the session stays dirty and the next flush writes it."""
    table = MemoryTable()
    table.fail = 1
    recorder = LedgerRecorder(table, "w1", inline)
    recorder.confirmed("o:0", "ch-1", 100.0)
    recorder.ended("o:0", "ch-1", 100.0, 105.0, "closed")
    await recorder.flush()
    assert table.items == {}
    await recorder.flush()
    assert interval(table) == [(100_000, 105_000, False)]


async def test_an_end_before_the_start_is_clamped_and_a_second_end_ignored():
    """Given a session ended at a last frame older than its confirmation, its end is its start; later ends change nothing."""
    table = MemoryTable()
    recorder = LedgerRecorder(table, "w1", inline)
    recorder.confirmed("o:0", "ch-1", 100.0)
    recorder.ended("o:0", "ch-1", 100.0, 99.0, "liveness")
    recorder.ended("o:0", "ch-1", 100.0, 150.0, "closed")
    await recorder.flush()
    assert interval(table) == [(100_000, 100_000, False)]


async def test_the_written_end_never_runs_ahead_of_what_is_stored():
    """Given an event received at 104 and not yet stored, the session's written end stops at 104, then catches up."""
    table = MemoryTable()
    recorder = LedgerRecorder(table, "w1", inline)
    recorder.confirmed("o:0", "ch-1", 100.0)
    recorder.still_alive("o:0", "ch-1", 100.0, 110.0)
    await recorder.flush(durable_until=104.0)
    assert interval(table) == [(100_000, 104_000, True)]
    # When the session closes at 112 while that event is still unstored, the record stays and stays clamped
    recorder.ended("o:0", "ch-1", 100.0, 112.0, "closed")
    await recorder.flush(durable_until=104.0)
    assert interval(table) == [(100_000, 104_000, True)]
    assert recorder.records  # not final yet: carried until its whole interval is durable
    # When the event is stored, the full interval is written and the record let go
    await recorder.flush(durable_until=120.0)
    assert interval(table) == [(100_000, 112_000, False)]
    assert recorder.records == {}
