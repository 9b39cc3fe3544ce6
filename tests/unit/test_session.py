"""One socket session: frames handled one by one, a bad one kept, the socket kept reading."""

from __future__ import annotations

import json
from typing import Any

from genesys.models import Channel
from genesys.org_config import OrgTopics
from genesys.token_secret import TokenSecret
from stream_worker.session import SessionTimings, SocketSession
from stream_worker.sharding import Shard
from tests.support.fakes import FakeConnection, RecordingSink, shard, token


async def test_a_frame_that_breaks_the_handler_is_quarantined_and_reading_goes_on():
    """Given a sink that fails on one event, that frame is quarantined and the next one is still stored."""

    class FlakySink:
        def __init__(self) -> None:
            self.stored: list[Any] = []
            self.quarantined: list[tuple[str, str]] = []

        async def submit(self, event: Any) -> None:
            if event.envelope["eventBody"].get("boom"):
                raise RuntimeError("storage adapter bug")
            self.stored.append(event)

        async def quarantine(self, raw: str, reason: str, *args: Any) -> None:
            self.quarantined.append((raw, reason))

    class ScriptedSocket:
        close_code, close_reason = 1000, "done"

        def __init__(self, frames: list[str]) -> None:
            self._frames = frames

        async def __aiter__(self):
            for frame in self._frames:
                yield frame

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
