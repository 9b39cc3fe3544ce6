"""Where the conditional puts run: threads of this process, or writer processes that each hold a pool of threads.

The event loop hands a put over and carries on. A lane thread makes the put, retrying what can succeed later, and
answers in batches, so the loop wakes once per batch of answers, not once per event.

boto3 spends about a millisecond of CPU per put, under the GIL, so one process stores at most about a thousand
events per second per core. With ``processes > 1`` the puts run in that many child processes, each with its own
clients, and a task uses every vCPU it is given. A child that dies is started again, and what it held is put again:
a repeated conditional put is answered as a duplicate, never stored twice.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import queue
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any, Protocol

from evidence.frames import excerpt
from evidence.records import Item
from evidence.store import Duplicate, ItemFailed, Rejected, WriteOutcome
from genesys.backoff import Backoff

log = logging.getLogger(__name__)
RESTART_DELAY = 1.0  # seconds before a dead writer process is started again
RUN_MAX = 8  # puts a lane thread takes at once, at most, when the queue is deep
POISON_AFTER = 5  # attempts of one item failing with ItemFailed, while others are stored, before it is refused
STOP_WAIT = 15.0  # seconds stop() waits for a put in progress (the SDK's own timeouts bound it)


class ConditionalPuts(Protocol):
    """What a lane needs of the store (EventStore, or a scripted one in tests)."""

    def put_new(self, key: str, item: Item, overflow: bytes | None) -> WriteOutcome: ...


class Put(Protocol):
    """A put to make: the writer's job (in this process), or a PutRequest (sent to a writer process)."""

    @property
    def seq(self) -> int: ...
    @property
    def key(self) -> str: ...
    @property
    def item(self) -> Item: ...
    @property
    def overflow(self) -> bytes | None: ...


@dataclass(frozen=True, slots=True)
class PutRequest:
    """A put as it crosses to a writer process: only what the put needs."""

    seq: int
    key: str
    item: Item
    overflow: bytes | None


@dataclass(slots=True)  # not frozen: made once per event, and a frozen dataclass costs 4x to build
class PutDone:
    seq: int
    outcome: WriteOutcome


@dataclass(frozen=True, slots=True)
class PutFailed:
    """One attempt failed with what can succeed later (throttling, 5xx, network, permissions); it is retried."""

    seq: int
    error: str
    detail: str
    retry_in: float


Report = PutDone | PutFailed


def _crossing(put: Put) -> PutRequest:
    """What of a put goes to a writer process: never the writer's job with its event."""
    return put if isinstance(put, PutRequest) else PutRequest(put.seq, put.key, put.item, put.overflow)


Deliver = Callable[[list[Report]], None]


class Lanes(Protocol):
    capacity: int  # puts that can be in progress at once

    def start(self, deliver: Deliver) -> None: ...
    def put_many(self, requests: Sequence[Put]) -> None: ...
    def stop(self) -> None: ...


class _Batcher:
    """Reports from lane threads, handed on in batches: ``flush`` is scheduled once per batch, not per report."""

    def __init__(self, schedule: Callable[[Callable[[], None]], object], deliver: Deliver) -> None:
        self._reports: queue.SimpleQueue[list[Report]] = queue.SimpleQueue()
        self._schedule = schedule
        self._deliver = deliver
        self._lock = threading.Lock()
        self._scheduled = False

    def add(self, reports: list[Report]) -> None:
        self._reports.put(reports)
        with self._lock:
            if self._scheduled:
                return
            self._scheduled = True
        try:
            self._schedule(self.flush)
        except RuntimeError:  # the event loop is closed: the writer is gone, and with it whoever would count this
            log.warning("puts were answered after the writer stopped", extra={"answers": len(reports)})

    def flush(self) -> None:
        with self._lock:
            self._scheduled = False  # a report added from here on schedules another flush
        batch: list[Report] = []
        try:
            while True:
                batch.extend(self._reports.get_nowait())
        except queue.Empty:
            pass
        if batch:
            self._deliver(batch)


def runs_of(requests: Sequence[Put], waiting: int) -> list[Sequence[Put]]:
    """``requests`` in consecutive runs: as many as threads are waiting (each starts one at once), but never a run
    longer than ``RUN_MAX`` (a busy thread that takes it next must not hold more than its share)."""
    if not requests:
        return []
    count = max(-(-len(requests) // RUN_MAX), min(len(requests), waiting), 1)
    size, longer = divmod(len(requests), count)  # as even as can be: the first ``longer`` runs one put longer
    runs: list[Sequence[Put]] = []
    start = 0
    for index in range(count):
        end = start + size + (1 if index < longer else 0)
        runs.append(requests[start:end])
        start = end
    return runs


class ThreadLanes:
    """``threads`` threads of this process, each making one put at a time until it is answered.

    A batch handed over is split in runs of consecutive puts, one run per thread waiting for work, each at most
    ``RUN_MAX`` long: under load a thread takes several at once, so the hand-over and its answer cost a queue
    crossing per run rather than per event (the puts themselves are CPU-bound under the GIL, so running them one
    after another in a thread loses no throughput). Split over every thread instead, the few puts freed by one
    run's answers went out as runs of one while every thread was busy: the bench's 4,000 events made 3,245 runs.
    """

    def __init__(
        self,
        store: ConditionalPuts,
        threads: int,
        backoff: Callable[[], Backoff],
        *,
        strip_duplicates: bool = False,
    ) -> None:
        self.capacity = threads * RUN_MAX
        self._threads_count = threads
        self._store = store
        self._backoff = backoff
        self._strip = strip_duplicates  # the existing item is not needed across a process boundary
        self._requests: queue.SimpleQueue[Sequence[Put] | None] = queue.SimpleQueue()
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._report: Callable[[list[Report]], None] = lambda reports: None
        self._stored = 0  # puts answered by the store, any thread: whether others pass while one item fails
        self._waiting = 0  # threads waiting for a run: how put_many splits a batch
        self._waiting_lock = threading.Lock()

    def start(self, deliver: Deliver) -> None:
        loop = asyncio.get_running_loop()
        batcher = _Batcher(loop.call_soon_threadsafe, deliver)
        self.start_reporting(batcher.add)

    def start_reporting(self, report: Callable[[list[Report]], None]) -> None:
        """Start the threads; reports go to ``report`` in lists (a run's answers), called on the lane thread."""
        self._report = report
        self._threads = [
            threading.Thread(target=self._work, name=f"put-lane-{i}", daemon=True) for i in range(self._threads_count)
        ]
        for thread in self._threads:
            thread.start()

    def put_many(self, requests: Sequence[Put]) -> None:
        for run in runs_of(requests, self._waiting):  # a hint read without the lock: a thread may start or end a run
            self._requests.put(run)

    def stop(self) -> None:
        self._stopping.set()
        for _ in self._threads:
            self._requests.put(None)
        for thread in self._threads:
            thread.join(STOP_WAIT)

    def _work(self) -> None:
        while True:
            with self._waiting_lock:
                self._waiting += 1
            run = self._requests.get()
            with self._waiting_lock:
                self._waiting -= 1
            if run is None:
                return
            answers: list[Report] = []
            for request in run:
                outcome = self._put(request, answers)
                if outcome is None:
                    return  # stopping: the rest stays unwritten, and the writer counts it
                if self._strip and isinstance(outcome, Duplicate):
                    outcome = Duplicate({})
                answers.append(PutDone(request.seq, outcome))
            if answers:
                self._report(answers)  # one hand-back per run

    def _put(self, request: Put, answers: list[Report]) -> WriteOutcome | None:
        """One put until answered; a failure hands back what the run has answered so far with it, at once.

        An item the store keeps failing with an error that names no cause, while other puts are answered, is the
        item, not the store: after ``POISON_AFTER`` attempts it is refused, so the writer keeps it in quarantine
        instead of retrying it for ever (pinning the ledger and any drain)."""
        delays: Backoff | None = None  # made at the first failure: a Backoff seeds its own random generator
        item_failures, stored_before = 0, self._stored
        while not self._stopping.is_set():
            try:
                outcome = self._store.put_new(request.key, request.item, request.overflow)
                self._stored += 1  # a lost update between threads only delays a poison verdict by one attempt
                return outcome
            except ItemFailed as exc:
                item_failures += 1
                if item_failures >= POISON_AFTER and self._stored > stored_before:
                    return Rejected(f"the store failed this item {item_failures} times while storing others: {exc}")
                delays = self._failed(request, exc, answers, delays)
            except Exception as exc:  # the store raises only what can succeed later; it is retried
                delays = self._failed(request, exc, answers, delays)
        return None

    def _failed(self, request: Put, exc: Exception, answers: list[Report], delays: Backoff | None) -> Backoff:
        delays = delays or self._backoff()
        delay = delays.next_delay()
        answers.append(PutFailed(request.seq, type(exc).__name__, excerpt(str(exc), 200), round(delay, 3)))
        self._report(answers[:])
        answers.clear()
        self._stopping.wait(delay)
        return delays


# ------------------------------------------------------------------------------------------- writer processes


def _lane_process(
    conn: Connection, store_factory: Callable[[], ConditionalPuts], threads: int, backoff: Callable[[], Backoff]
) -> None:
    """A writer process: requests in batches from the pipe, answers in batches back."""
    lanes = ThreadLanes(store_factory(), threads, backoff, strip_duplicates=True)
    answers: queue.SimpleQueue[list[Report] | None] = queue.SimpleQueue()

    def send() -> None:
        while True:
            first = answers.get()
            if first is None:
                return
            batch = list(first)
            try:
                while True:
                    more = answers.get_nowait()
                    if more is None:
                        conn.send(batch)
                        return
                    batch.extend(more)
            except queue.Empty:
                pass
            conn.send(batch)

    sender = threading.Thread(target=send, name="put-answers", daemon=True)
    sender.start()
    lanes.start_reporting(answers.put)
    try:
        while True:
            batch = conn.recv()
            if batch is None:
                break
            lanes.put_many(batch)
    except EOFError:  # the parent is gone
        pass
    finally:
        lanes.stop()
        answers.put(None)
        sender.join(STOP_WAIT)


@dataclass
class _Lane:
    process: Any
    conn: Connection
    held: dict[int, PutRequest]


class ProcessLanes:
    """``processes`` writer processes with ``threads`` put threads each.

    ``store_factory`` runs in each child (it is pickled to it): each process makes its own boto3 clients. Each holds
    up to ``RUN_MAX`` puts per thread, as ThreadLanes does: with one put per thread, every hand-over and every answer
    crossed the pipe alone, and the parent spent 130-200 µs per event on the crossings (bench: 2 processes stored
    1.25-1.74 times what one did; with runs, 2.0-2.1).
    """

    def __init__(
        self,
        store_factory: Callable[[], ConditionalPuts],
        processes: int,
        threads: int,
        backoff: Callable[[], Backoff],
    ) -> None:
        self.capacity = processes * threads * RUN_MAX
        self._factory = store_factory
        self._threads = threads
        self._backoff = backoff
        self._context = multiprocessing.get_context("spawn")  # never fork a process that runs threads
        self._lanes: list[_Lane | None] = [None] * processes
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._deliver: Deliver = lambda batch: None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._readers: list[threading.Thread] = []
        self._parked: list[PutRequest] = []

    def start(self, deliver: Deliver) -> None:
        self._loop = asyncio.get_running_loop()
        self._deliver = deliver
        for index in range(len(self._lanes)):
            self._launch(index)

    def put_many(self, requests: Sequence[Put]) -> None:
        with self._lock:
            live = [lane for lane in self._lanes if lane is not None]
            if not live:  # every process is being started again: the first to start takes these
                self._parked.extend(_crossing(p) for p in requests)
                return
            shares: dict[int, list[PutRequest]] = {}
            for put in requests:  # to the least loaded process
                request = _crossing(put)
                lane = min(live, key=lambda candidate: len(candidate.held))
                lane.held[request.seq] = request
                shares.setdefault(id(lane), []).append(request)
            for lane in live:
                share = shares.get(id(lane))
                if not share:
                    continue
                try:
                    lane.conn.send(share)
                except OSError as exc:  # the process died since it was last seen: its reader restarts it
                    # the share is in ``held``, which the reader hands to the new process: parked, not lost
                    log.warning(
                        "writer process gone; its puts wait for its replacement",
                        extra={"error": type(exc).__name__, "requests": len(share)},
                    )

    def stop(self) -> None:
        self._stopping.set()
        with self._lock:
            lanes = [lane for lane in self._lanes if lane is not None]
        for lane in lanes:
            try:
                lane.conn.send(None)
            except OSError:  # it is already gone
                continue
        for lane in lanes:
            lane.process.join(STOP_WAIT)
            if lane.process.is_alive():
                lane.process.kill()
        for reader in self._readers:
            reader.join(STOP_WAIT)

    def pids(self) -> list[int]:
        with self._lock:
            return [lane.process.pid for lane in self._lanes if lane is not None]

    def _launch(self, index: int, resend: Sequence[PutRequest] = ()) -> None:
        parent, child = self._context.Pipe()
        process = self._context.Process(
            target=_lane_process,
            args=(child, self._factory, self._threads, self._backoff),
            name=f"put-lane-{index}",
            daemon=True,
        )
        process.start()
        child.close()
        lane = _Lane(process, parent, {})
        with self._lock:
            self._lanes[index] = lane
            resend = [*resend, *self._parked]
            self._parked.clear()
        reader = threading.Thread(target=self._read, args=(index, lane), name=f"put-lane-{index}-reader", daemon=True)
        self._readers.append(reader)
        reader.start()
        if resend:
            self.put_many(resend)

    def _read(self, index: int, lane: _Lane) -> None:
        loop = self._loop
        assert loop is not None
        while True:
            try:
                batch: list[Report] = lane.conn.recv()
            except (EOFError, OSError):
                break
            with self._lock:
                for report in batch:
                    if isinstance(report, PutDone):
                        lane.held.pop(report.seq, None)
            try:
                loop.call_soon_threadsafe(self._deliver, batch)
            except RuntimeError:  # the event loop is closed: the writer is gone
                log.warning("puts were answered after the writer stopped", extra={"answers": len(batch)})
                return
        lane.process.join(STOP_WAIT)
        if self._stopping.is_set():
            return
        with self._lock:
            self._lanes[index] = None
            orphans = list(lane.held.values())
        log.error(
            "writer process exited; starting it again and putting what it held",
            extra={"lane": index, "exit_code": lane.process.exitcode, "requests": len(orphans)},
        )
        self._stopping.wait(RESTART_DELAY)
        if not self._stopping.is_set():
            self._launch(index, orphans)
