"""One shard's supervisor against a fake Genesys: make-before-break rotation, the channel budget, tokens."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from genesys.errors import BadCredentialsError, ServerError
from local_stack.waiting import eventually
from stream_worker.ledger import LedgerRecorder
from stream_worker.metrics import WorkerMetrics
from stream_worker.supervisor import ChannelBudget, ShardSupervisor
from stream_worker.token_wait import TokenWait
from tests.support.fakes import (
    FakeGenesys,
    FakeReader,
    MemoryTable,
    RecordingSink,
    inline,
    settings,
    shard,
    token,
)


@pytest.fixture(autouse=True)
def _no_emf(monkeypatch):
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")


class Harness:
    def __init__(self, *tokens: Any, budget: int = 10, **overrides: Any) -> None:
        self.genesys = FakeGenesys()
        self.reader = FakeReader(*(tokens or (token("t1"),)))
        self.budget = ChannelBudget(budget)
        self.table = MemoryTable()
        self.ledger = LedgerRecorder(self.table, "w1", inline)
        self.metrics = WorkerMetrics(namespace="Test")
        self.stopping = asyncio.Event()
        self.supervisor = ShardSupervisor(
            shard(),
            settings(**overrides),
            reader=self.reader,  # type: ignore[arg-type]
            api_for=self.genesys.api_for,  # type: ignore[arg-type]
            connect=self.genesys.connect,  # type: ignore[arg-type]
            sink=RecordingSink(),
            budget=self.budget,
            token_wait=TokenWait("o", "o/token", poll_interval=0.01),
            ledger=self.ledger,
            metrics=self.metrics,
            stopping=self.stopping,
            run_blocking=inline,
        )
        self.task: asyncio.Task[None] | None = None

    async def start(self) -> Harness:
        self.task = asyncio.create_task(self.supervisor.run())
        await eventually(lambda: self.supervisor.live_count() == 2, 2, "two live sockets")
        return self

    async def stop(self) -> None:
        self.stopping.set()
        assert self.task is not None
        await asyncio.wait_for(self.task, 5)
        await self.supervisor.close()

    def session(self, n: int = 0) -> Any:
        return sorted(self.supervisor.sessions, key=lambda s: s.channel_id)[n]


async def test_two_sockets_on_two_channels_within_the_budget():
    """Given a shard with two sockets, when it starts, two confirmed sockets hold two channels of the budget."""
    harness = await Harness().start()
    channels = {s.channel_id for s in harness.supervisor.sessions}
    assert len(channels) == 2
    assert harness.budget.in_use == 2
    assert harness.supervisor.first_covered_at is not None
    await harness.stop()
    assert harness.budget.in_use == 0


async def test_socket_closing_reopens_the_same_channel_without_rest_or_budget():
    """Given two live sockets, socket_closing on one is answered by a new socket on the same channel: no creation."""
    harness = await Harness().start()
    old = harness.session(0)
    uri = f"fake://{old.channel_id}"
    old.ws.push('{"topicName": "v2.system.socket_closing", "eventBody": {}}')
    await eventually(lambda: old.ended.is_set() and harness.supervisor.live_count() == 2, 2, "the socket is replaced")
    log = harness.genesys.log
    assert [entry for entry in log if entry[0] == "create"] == [("create", "ch-0"), ("create", "ch-1")]
    assert log.count(("connect", uri)) == 2
    assert harness.budget.in_use == 2  # one channel, one place in the budget, across both sockets
    assert {s.channel_id for s in harness.supervisor.sessions} == {"ch-0", "ch-1"}
    assert harness.metrics.rotation_totals["socket_closing"] == 1
    assert harness.supervisor.uncovered_total(time.time()) == 0.0
    await harness.stop()
    assert harness.budget.in_use == 0


async def test_a_channel_that_cannot_be_reopened_is_replaced_make_before_break():
    """Given socket_closing and a reconnect that fails, a new channel is made and confirmed before the old closes."""
    harness = await Harness().start()
    old = harness.session(0)
    harness.genesys.fail_connects = [OSError("connection refused")]
    old.ws.push('{"topicName": "v2.system.socket_closing", "eventBody": {}}')
    await eventually(lambda: old.ended.is_set(), 2, "the old socket is retired")
    log = harness.genesys.log
    created = [entry for entry in log if entry[0] == "create"]
    assert len(created) == 3
    new_uri = f"fake://{created[2][1]}"
    assert log.index(("connect", new_uri)) < log.index(("close", f"fake://{old.channel_id}"))
    await eventually(lambda: harness.supervisor.live_count() == 2, 2, "two live sockets")
    assert harness.budget.in_use == 2
    await harness.stop()


async def test_at_the_channel_limit_ours_are_touched_before_creating_one():
    """Given other applications filling the client's 20 channels, our live sockets ping before a creation."""
    harness = await Harness().start()
    harness.genesys.neighbour_channels = 19  # with our surviving channel: 20
    pings_before = {s.channel_id: s.ws.sent.count('{"message": "ping"}') for s in harness.supervisor.sessions}
    harness.session(0).ws.drop()
    await eventually(lambda: len(harness.genesys.connections) == 3, 2, "a replacement is connected")
    survivor = next(s for s in harness.supervisor.sessions if s.channel_id in pings_before)
    assert survivor.ws.sent.count('{"message": "ping"}') > pings_before[survivor.channel_id]
    await harness.stop()


async def test_a_dropped_socket_is_replaced_and_its_channel_released():
    """Given two live sockets, when one drops, a new one is opened and the budget holds two channels again."""
    harness = await Harness().start()
    harness.session(0).ws.drop()
    await eventually(lambda: harness.metrics.rotation_totals["closed"] == 1, 2, "the drop is noticed")
    await eventually(lambda: harness.supervisor.live_count() == 2, 2, "the replacement is live")
    assert harness.budget.in_use == 2
    await harness.stop()


async def test_a_silent_socket_is_dead_at_its_last_proof():
    """Given a socket that stops answering, the watchdog ends it at its last answered ping (less the allowance)."""
    harness = await Harness().start()
    victim = harness.session(0)
    await eventually(lambda: victim.proven_at > victim.confirmed_at, 2, "a ping is answered")
    victim.ws.silent = True
    silenced_at = time.time()
    await eventually(lambda: victim.ended.is_set(), 3, "the silent socket is declared dead")
    assert victim.end_reason == "liveness"
    assert victim.alive_until == victim.proven_at - harness.supervisor._settings.delivery_allowance
    assert victim.confirmed_at <= victim.proven_at <= silenced_at  # never the moment its death was noticed
    await harness.stop()


async def test_rest_failures_while_opening_back_off_and_retry(monkeypatch):
    """Given channel creation failing twice with 5xx, the slot retries until it opens."""
    harness = Harness()
    harness.genesys.fail_creates = [ServerError("create channel failed with HTTP 503", 503)] * 2
    await harness.start()
    assert harness.budget.in_use == 2  # the failed attempts released what they took
    await harness.stop()


async def test_a_refused_token_is_never_offered_again():
    """Given the first token refused by Genesys, it is rejected and the next one opens the sockets."""
    harness = Harness(token("bad"), token("good"))
    harness.genesys.fail_creates = [BadCredentialsError("create channel failed with HTTP 401", 401)]
    await harness.start()
    assert harness.reader.rejected == ["bad"]
    assert harness.reader.refreshed == 1
    assert {s.token.access_token for s in harness.supervisor.sessions} == {"good"}
    await harness.stop()


async def test_the_two_sockets_prefer_two_tokens():
    """Given two usable tokens, the two sockets of a shard take one each."""
    harness = await Harness(token("a"), token("b")).start()
    assert {s.token.access_token for s in harness.supervisor.sessions} == {"a", "b"}
    await harness.stop()


async def test_the_budget_never_lets_more_channels_exist_than_its_limit():
    """Given a budget of 2 shared by the shard, a rotation must wait for a release: never a third channel."""
    budget = ChannelBudget(2)
    await budget.acquire()
    await budget.acquire()
    third = asyncio.create_task(budget.acquire())
    await asyncio.sleep(0)  # let it try
    assert not third.done()
    await budget.release()
    await asyncio.wait_for(third, 1)
    assert budget.in_use == 2
