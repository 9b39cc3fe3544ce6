"""The event writer against a scripted store: outcomes, retries, quarantine of refusals, backpressure."""

from __future__ import annotations

import asyncio
import json
import threading

import pytest

from evidence.records import Received
from evidence.store import ItemFailed, Rejected
from genesys.backoff import Backoff
from local_stack.waiting import eventually
from stream_worker.dedupe import DedupeWindow
from stream_worker.metrics import WorkerMetrics
from stream_worker.put_lanes import ThreadLanes
from stream_worker.writer import EventWriter
from tests.support.fakes import ScriptedStore


@pytest.fixture(autouse=True)
def _no_emf(monkeypatch):
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")


def event(n: int, body: dict | None = None) -> Received:
    envelope = {
        "topicName": "v2.users.u1.presence",
        "eventBody": body or {"n": n},
        "metadata": {"CorrelationId": f"c{n}"},
    }
    return Received.of(json.dumps(envelope), envelope, "ch-1", "o:0", "o", 1_800_000_000.0 + n)


def writer(store: ScriptedStore, *, queue_max: int = 100, concurrency: int = 2) -> tuple[EventWriter, WorkerMetrics]:
    metrics = WorkerMetrics(namespace="Test")
    fast = lambda: Backoff(base=0.001, cap=0.002)  # noqa: E731 - retries in milliseconds
    lanes = ThreadLanes(store, concurrency, fast)
    return EventWriter(lanes, metrics, queue_max=queue_max, dedupe=DedupeWindow(1000)), metrics


async def test_each_event_is_stored_once_and_the_overlap_costs_no_write():
    """Given the same event from two sockets, one write is made and the second copy is absorbed in memory."""
    store = ScriptedStore()
    events_writer, metrics = writer(store)
    events_writer.start()
    first = event(1)
    await events_writer.submit(first)
    await events_writer.submit(event(1))
    assert await events_writer.drain(1)
    assert [key for key, _ in store.written] == [first.key]
    assert metrics.totals["EventsStored"] == 1
    assert metrics.totals["DuplicatesAbsorbed"] == 1
    await events_writer.stop()


async def test_transient_failures_are_retried_until_stored():
    """Given a store that throttles twice, the write is retried and the event stored once."""
    store = ScriptedStore()
    target = event(2)
    store.script[target.key] = [ConnectionError("throttled"), TimeoutError("slow")]
    events_writer, metrics = writer(store)
    events_writer.start()
    await events_writer.submit(target)
    assert await events_writer.drain(1)
    assert metrics.totals["WriteErrors"] == 2
    assert metrics.totals["EventsStored"] == 1
    assert events_writer.failing_since is None
    await events_writer.stop()


async def test_a_refused_event_becomes_a_quarantine_record_with_its_reason_and_raw_frame():
    """Given the store refusing an event for good, it is written once as quarantine and never retried."""
    store = ScriptedStore()
    refused = event(3)
    store.script[refused.key] = [Rejected("ValidationException: Item size has exceeded the maximum allowed size")]
    events_writer, metrics = writer(store)
    events_writer.start()
    await events_writer.submit(refused)
    await events_writer.submit(event(4))
    assert await events_writer.drain(1)
    kinds = {item["kind"]["S"]: item for _, item in store.written}
    assert set(kinds) == {"quarantine", "event"}
    record = kinds["quarantine"]
    assert record["reason"]["S"].startswith("store refused the event: ValidationException")
    assert record["envelope"]["S"] == refused.raw
    assert metrics.totals["WriteRejected"] == 1
    assert metrics.totals["WriteErrors"] == 0
    await events_writer.stop()


async def test_an_event_no_item_can_be_made_of_is_quarantined_and_the_writer_goes_on():
    """Given an event whose item cannot be made (its envelope lacks the topic the item is keyed by) queued between
    two good ones, it is kept in quarantine with why, the others are stored, and the writer still writes."""
    store = ScriptedStore()
    events_writer, metrics = writer(store)
    broken_envelope = {"eventBody": {"n": 1}}
    broken = Received(json.dumps(broken_envelope), broken_envelope, "ch-1", "o:0", "o", 1_800_000_000.0, key="k")
    events_writer.start()
    for e in (event(5), broken, event(6)):
        await events_writer.submit(e)
    assert await events_writer.drain(1)
    kinds = [item["kind"]["S"] for _, item in store.written]
    assert sorted(kinds) == ["event", "event", "quarantine"]
    record = next(item for _, item in store.written if item["kind"]["S"] == "quarantine")
    assert record["reason"]["S"] == "no item could be made of the event: KeyError: 'topicName'"
    assert record["envelope"]["S"] == broken.raw
    assert events_writer.failed is None
    await events_writer.submit(event(7))
    assert await events_writer.drain(1)
    assert metrics.totals["EventsStored"] == 3
    await events_writer.stop()


async def test_a_full_queue_blocks_the_reader_and_stop_counts_what_the_writers_hold():
    """Given a store that never answers, submits block once the lanes and the queue are full; stop reports both."""
    store = ScriptedStore()
    events_writer, _ = writer(store, queue_max=3, concurrency=2)
    held = events_writer._lanes.capacity  # what the lane threads take on (runs of puts), before the queue fills
    events = [event(10 + n) for n in range(held + 4)]
    for e in events:
        store.script[e.key] = [ConnectionError("down")] * 10_000
    events_writer.start()
    for e in events[:held]:
        await events_writer.submit(e)
    await eventually(lambda: events_writer.in_flight == held, 1, "the lanes hold all they take")
    for e in events[held : held + 3]:
        await events_writer.submit(e)
    blocked = asyncio.create_task(events_writer.submit(events[-1]))
    await asyncio.sleep(0.01)
    assert not blocked.done()  # backpressure: the socket reader waits
    assert events_writer.unwritten == held + 3
    queued = list(events_writer.queue._queue)  # type: ignore[attr-defined]
    assert queued and all(not job.item for job in queued)  # a queued event holds its frame, its item is made later
    blocked.cancel()
    assert await events_writer.stop() == held + 3


async def test_durable_until_is_the_receive_time_of_the_oldest_event_in_memory():
    """Given two events in memory, the writer's durable horizon is the older one's receive time, then now."""
    store = ScriptedStore()
    first, second = event(30), event(31)
    store.script[first.key] = [ConnectionError("down")] * 5
    events_writer, _ = writer(store)
    assert events_writer.durable_until(now=5e9) == 5e9  # nothing in memory
    await events_writer.submit(first)
    await events_writer.submit(second)
    assert events_writer.durable_until(now=5e9) == first.received_at
    events_writer.start()
    assert await events_writer.drain(2)
    assert events_writer.durable_until(now=5e9) == 5e9
    await events_writer.stop()


class HeldStore(ScriptedStore):
    """A store that answers nothing until ``release`` is set (a thread event: puts run on lane threads)."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()

    def put_new(self, key, item, overflow):
        self.release.wait(10)
        return super().put_new(key, item, overflow)


async def test_a_copy_of_an_event_dropped_while_blocked_is_stored_not_absorbed():
    """Given lanes that do not answer and a queue of one: the lanes and the queue fill, C blocks, and its reader is
    cancelled. When C's copy comes from another channel, it is written: C's key left the window with its job."""
    store = HeldStore()
    events_writer, metrics = writer(store, queue_max=1, concurrency=1)
    events_writer.start()
    c = event(42)
    before = [event(50 + n) for n in range(events_writer._lanes.capacity + 1)]  # what the lane and the queue take
    for e in before:
        await events_writer.submit(e)
    await eventually(lambda: events_writer.queue.full(), 1, "the lanes and the queue are full")
    blocked = asyncio.create_task(events_writer.submit(c))
    await eventually(lambda: metrics.totals["EventsReceived"] == len(before) + 1, 1, "C is offered")
    assert not blocked.done()
    blocked.cancel()
    await asyncio.gather(blocked, return_exceptions=True)

    copy = Received.of(c.raw, c.envelope, "ch-2", c.shard, c.org, c.received_at + 0.5)
    store.release.set()
    await events_writer.submit(copy)
    assert await events_writer.drain(5)
    assert c.key in {key for key, _ in store.written}
    assert metrics.totals["DuplicatesAbsorbed"] == 0
    await events_writer.stop()


class BrokenLanes:
    """Lanes whose hand-over fails: what a bug in the dispatcher's path would do."""

    capacity = 1

    def start(self, deliver):
        pass

    def put_many(self, requests):
        raise RuntimeError("hand-over failed")

    def stop(self):
        pass


async def test_a_dispatcher_that_fails_is_reported_to_the_owner_not_left_silent():
    """Given lanes whose hand-over raises, the writer records the failure and tells its owner (the worker then
    stops and exits non-zero), instead of staying up with a queue that only fills."""
    told: list[BaseException] = []
    events_writer = EventWriter(
        BrokenLanes(), WorkerMetrics(namespace="Test"), queue_max=10, dedupe=DedupeWindow(10), on_failure=told.append
    )
    events_writer.start()
    await events_writer.submit(event(60))
    await eventually(lambda: bool(told), 1, "the owner is told")
    assert isinstance(events_writer.failed, RuntimeError)
    assert told == [events_writer.failed]
    await events_writer.stop()


async def test_an_item_the_store_keeps_failing_while_storing_others_is_quarantined_not_retried_for_ever():
    """Given a store that answers one item with an error naming no cause (as moto answers 500 to a key that is not
    valid UTF-8) while storing the rest, that item is kept in quarantine with the store's error, and the writer
    drains: nothing pins the ledger or a shutdown."""
    store = ScriptedStore()
    poison, fine = event(70), [event(100 + n) for n in range(20)]
    store.script[poison.key] = [ItemFailed("InternalServerError", "boom")] * 10_000
    events_writer, metrics = writer(store, concurrency=2)
    for e in (poison, *fine):  # one hand-over: one lane thread starts with the poison, the other stores events
        await events_writer.submit(e)
    events_writer.start()
    assert await events_writer.drain(5)
    assert metrics.totals["EventsStored"] == len(fine)
    (record,) = [item for _, item in store.written if item["kind"]["S"] == "quarantine"]
    assert record["envelope"]["S"] == poison.raw
    assert "failed this item 5 times while storing others: InternalServerError: boom" in record["reason"]["S"]


async def test_an_item_failing_while_nothing_is_stored_is_retried_not_quarantined():
    """Given a store that fails every put the same way (an outage, not the item), nothing is quarantined: the
    put is retried until the store answers."""
    store = ScriptedStore()
    target = event(72)
    store.script[target.key] = [ItemFailed("InternalServerError", "down")] * 12
    events_writer, metrics = writer(store, concurrency=1)
    events_writer.start()
    await events_writer.submit(target)
    assert await events_writer.drain(5)
    assert [item["kind"]["S"] for _, item in store.written] == ["event"]
    assert metrics.totals["WriteErrors"] == 12
