"""One socket session: frames handled one by one, a bad one kept, the socket kept reading."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from genesys.models import Channel
from genesys.org_config import OrgTopics
from genesys.token_secret import TokenSecret
from local_stack.waiting import eventually
from stream_worker.session import SessionTimings, SocketSession
from stream_worker.sharding import Shard
from tests.support.fakes import PONG, FakeConnection, RecordingSink, frame, shard, token


async def test_a_frame_that_breaks_the_handler_is_quarantined_and_reading_goes_on():
    """Given a sink that fails on one event, that frame is quarantined and the next one is still stored."""

    class FlakySink:
        def __init__(self) -> None:
            self.stored: list[Any] = []
            self.quarantined: list[tuple[str | bytes, str]] = []

        async def submit(self, event: Any) -> bool:
            if event.envelope["eventBody"].get("boom"):
                raise RuntimeError("storage adapter bug")
            self.stored.append(event)
            return False

        async def quarantine(self, raw: str | bytes, reason: str, *args: Any) -> None:
            self.quarantined.append((raw, reason))

    class ScriptedSocket:
        close_code, close_reason = 1000, "done"

        def __init__(self, frames: list[str]) -> None:
            self._frames = frames

        async def __aiter__(self):
            for text in self._frames:
                yield text

    # Given a socket whose first event makes the sink fail
    frames = [
        json.dumps({"topicName": "v2.users.u.presence", "eventBody": body}) for body in ({"boom": True}, {"n": 2})
    ]
    sink = FlakySink()
    org = OrgTopics(name="o", environment="mypurecloud.ie", token_secret="t", topics=("v2.users.u.presence",))
    session = SocketSession(
        Shard("o:0", org, org.topics),
        TokenSecret("tok", "bearer", 2e9, 1e9, "o", "mypurecloud.ie", "c"),
        api=None,  # type: ignore[arg-type]
        connect=None,  # type: ignore[arg-type]
        sink=sink,
        run_blocking=None,  # type: ignore[arg-type]
        timings=SessionTimings(1, 1, 1),
        on_rejected=lambda topics: None,
    )
    session.ws = ScriptedSocket(frames)  # type: ignore[assignment]
    # When the reader runs
    await session._read()
    # Then the bad frame is kept in quarantine, the next one is stored, and the socket ended only when it closed
    assert [reason for _, reason in sink.quarantined] == ["handler error: RuntimeError"]
    assert [e.envelope["eventBody"] for e in sink.stored] == [{"n": 2}]
    assert session.end_reason == "closed"


async def test_every_line_of_a_session_carries_its_shard_slot_and_channel(caplog):
    """Given a session on slot 1 whose socket the server closes, the close is logged with shard, slot and channel."""
    caplog.set_level("INFO")
    session = SocketSession(
        shard(),
        token("t"),
        api=None,  # type: ignore[arg-type]
        connect=None,  # type: ignore[arg-type]
        sink=RecordingSink(),
        run_blocking=None,  # type: ignore[arg-type]
        timings=SessionTimings(1, 1, 1),
        on_rejected=lambda topics: None,
        slot=1,
    )
    session.channel = Channel("ch-7", "fake://ch-7", None)
    connection = FakeConnection("fake://ch-7", [])
    session.ws = connection  # type: ignore[assignment]
    connection.drop(1011)
    await session._read()
    (record,) = [r for r in caplog.records if r.getMessage() == "socket closed"]
    assert (record.shard, record.slot, record.channel_id, record.code) == ("o:0", 1, "ch-7", 1011)


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class GatedSink(RecordingSink):
    """A writer whose queue is full until ``room`` is set: every hand-over waits, and says it waited."""

    def __init__(self) -> None:
        super().__init__()
        self.room = asyncio.Event()
        self.waiting = 0

    async def submit(self, event: Any) -> bool:
        waited = not self.room.is_set()
        self.waiting += 1
        await self.room.wait()
        self.waiting -= 1
        self.events.append(event)
        return waited


def live_session(sink: Any, clock: Clock, allowance: float = 1.0) -> tuple[SocketSession, FakeConnection]:
    """A confirmed session reading a fake connection, its watchdog running on ``clock``."""
    session = SocketSession(
        shard(),
        token("t"),
        api=None,  # type: ignore[arg-type]
        connect=None,  # type: ignore[arg-type]
        sink=sink,
        run_blocking=None,  # type: ignore[arg-type]
        timings=SessionTimings(ping_after=0.2, liveness_timeout=0.2, confirm_timeout=1, delivery_allowance=allowance),
        on_rejected=lambda topics: None,
        clock=clock,
    )
    connection = FakeConnection("fake://ch-1", [])
    session.channel = Channel("ch-1", "fake://ch-1", None)
    session.ws = connection  # type: ignore[assignment]
    session.proven_at = session._heard_at = clock()
    session._reader = asyncio.create_task(session._read())
    session._watcher = asyncio.create_task(session._watch())
    return session, connection


async def hang_up(session: SocketSession, connection: FakeConnection) -> None:
    """The server closes the socket; the reader ends once it has handed everything over."""
    assert session._watcher is not None and session._reader is not None
    session._watcher.cancel()
    connection.drop(1000)
    await session._reader


def event_frame(n: int) -> str:
    return frame("v2.users.u1.presence", {"n": n})


async def watchdog_rounds(rounds: int = 8) -> None:
    """Let the watchdog look several times (its step is a quarter of the 0.2 s timings): a negative can only be
    shown by letting the time it would have acted in pass."""
    for _ in range(rounds):
        await asyncio.sleep(0.05)


async def test_a_full_writer_pauses_reading_and_is_never_taken_for_a_dead_socket():
    """Given a writer that stays full for far longer than the liveness timeout, on a socket that answers no ping,
    the socket is not declared dead; when room comes, every frame it delivered is handed over."""
    clock = Clock()
    sink = GatedSink()
    session, connection = live_session(sink, clock)
    connection.silent = True
    for n in range(3):
        connection.push(event_frame(n))
    await eventually(lambda: sink.waiting == 1, 1, "the first hand-over waits for the writer")
    clock.now += 60  # a minute of store stall, thirty liveness timeouts
    await watchdog_rounds()
    assert not session.ended.is_set()
    sink.room.set()
    await eventually(lambda: len(sink.events) == 3, 1, "every delivered frame handed over")
    assert not session.ended.is_set()
    await hang_up(session, connection)


async def test_frames_read_late_prove_nothing_of_when_they_came_an_answered_ping_does():
    """Given frames read 30 s late because the writer was full, the ledger's proof does not move with them; a pong
    moves it to the send time of the ping it answers (the server answers in order), and no further."""
    clock = Clock()
    sink = GatedSink()
    session, connection = live_session(sink, clock, allowance=1.0)
    connection.silent = True  # pongs come when the test says
    connection.push(event_frame(1))
    await eventually(lambda: sink.waiting == 1, 1, "the hand-over waits")
    proof_before = session.proven_at
    clock.now += 30
    connection.push(event_frame(2))  # arrived at some moment in those 30 s: its read time says nothing
    sink.room.set()
    await eventually(lambda: len(sink.events) == 2, 1, "both handed over")
    assert session.proven_at == proof_before
    await session.touch()
    pinged_at = clock.now
    clock.now += 2
    for _ in range(len(session._pings)):
        connection.push(PONG)
    await eventually(lambda: not session._pings, 1, "every ping answered")
    assert session.proven_at == pinged_at
    assert session.proven_until == pinged_at - 1.0
    await hang_up(session, connection)


@pytest.mark.parametrize(("half_open", "ends_at_close"), [(True, False), (False, True)])
async def test_a_retired_socket_ends_at_its_close_only_when_the_handshake_completes(half_open, ends_at_close):
    """Given a socket last proven at t, retired 30 s later: with a close handshake the session ends when the close
    was sent; half-open (no close frame, the close times out), at its last proof less the allowance."""
    clock = Clock()
    sink = RecordingSink()
    session, connection = live_session(sink, clock, allowance=1.0)
    connection.push(event_frame(1))
    await eventually(lambda: len(sink.events) == 1, 1, "the frame is read")
    await session.touch()
    await eventually(lambda: not session._pings, 1, "the ping is answered")
    proven = session.proven_at
    connection.half_open = half_open
    clock.now += 30
    await session.retire()
    assert session.alive_until == (clock.now if ends_at_close else proven - 1.0)
    assert session.end_reason == "retired"


async def test_retiring_never_cancels_a_reader_that_holds_frames():
    """Given a writer full while a socket is retired, the retirement waits for the reader to hand over every frame
    it read before the close, however long that takes, instead of cancelling it."""
    clock = Clock()
    sink = GatedSink()
    session, connection = live_session(sink, clock)
    for n in range(3):
        connection.push(event_frame(n))
    await eventually(lambda: sink.waiting == 1, 1, "the reader waits for the writer")
    retiring = asyncio.create_task(session.retire())
    await watchdog_rounds()
    assert not retiring.done()
    sink.room.set()
    await asyncio.wait_for(retiring, 5)
    assert [e.envelope["eventBody"]["n"] for e in sink.events] == [0, 1, 2]


async def test_a_binary_frame_that_is_not_utf8_is_quarantined_byte_for_byte():
    """Given a binary frame with invalid UTF-8 between two events, it is kept whole as bytes and reading goes on."""
    clock = Clock()
    sink = RecordingSink()
    session, connection = live_session(sink, clock)
    bad = b'{"topicName": "v2.users.u1.presence", "eventBody": {"x": "\xff\xfe"}}'
    connection.push(event_frame(1))
    connection.push(bad)  # type: ignore[arg-type]
    connection.push(event_frame(2))
    await eventually(lambda: len(sink.events) == 2, 1, "both events handed over")
    assert sink.quarantined == [(bad, "binary frame that is not valid UTF-8")]
    await hang_up(session, connection)
