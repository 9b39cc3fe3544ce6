"""A slow store: a writer that stops answering pauses reading, and is never taken for dead sockets; nothing that
arrived is dropped, and whatever a server that closes slow readers costs lies in a gap the ledger reports."""

from __future__ import annotations

import threading
import time

import pytest

from local_stack.bridge import LocalBridge
from local_stack.waiting import eventually
from tests.support.bridge import all_sockets_live, finish, rotations, running_bridge, stored

pytestmark = pytest.mark.slow
STALL = 12.0  # seconds every put is held: twelve liveness timeouts of the fast settings


def hold_every_put(bridge: LocalBridge) -> threading.Event:
    """Every conditional put waits until the returned event is set: a store that does not answer."""
    lanes = bridge.worker.writer._lanes
    store = lanes._store  # type: ignore[attr-defined]
    answer = threading.Event()
    put_new = store.put_new

    def held(*args, **kwargs):
        answer.wait(60)
        return put_new(*args, **kwargs)

    store.put_new = held
    return answer


async def stall_the_store(bridge: LocalBridge, *, burst: int = 0) -> None:
    """Hold every put for STALL seconds; ``burst``: that many 30 KB events published once the queue is full,
    more than the kernel's and the libraries' buffers between the server and a reader that stopped hold."""
    answer = hold_every_put(bridge)
    stalled_at = time.monotonic()
    await eventually(lambda: bridge.worker.writer.queue.full(), 10, "the writer's queue fills")
    if burst:
        bridge.fault("burst", count=burst, size=30_000)
    await eventually(lambda: time.monotonic() - stalled_at >= STALL, STALL + 1, "the stall lasts")
    answer.set()


async def test_a_store_that_stops_answering_never_makes_a_socket_look_dead_and_loses_nothing(
    aws, make_emulator, tmp_path
):
    """Given every put held for 12 s at 100 events/s with a queue of 200, no socket is declared dead during the
    stall, and after it every published event is stored."""
    bridge = await running_bridge(make_emulator, tmp_path, {"token_lifetime": 120, "event_rate": 100}, queue_max=200)
    before = stored(bridge)
    await stall_the_store(bridge)
    assert rotations(bridge)["liveness"] == 0
    await eventually(lambda: bridge.worker.writer.unwritten == 0, 45, "the backlog is written")
    assert stored(bridge) > before
    await all_sockets_live(bridge)
    result = await finish(bridge)
    assert rotations(bridge)["liveness"] == 0
    assert result.lost == 0


@pytest.mark.timeout(240)  # the burst must outgrow the kernel's buffers (tens of MB here): it takes a while to store
async def test_a_server_that_drops_slow_readers_costs_only_seconds_the_ledger_reports(aws, make_emulator, tmp_path):
    """Given the emulator's slow-reader switch (drop a socket whose frames have waited unsent for 2 s) and a 12 s
    store stall with a burst the buffers cannot hold, sockets are dropped, and every event not stored lies inside a
    gap the ledger reports."""
    bridge = await running_bridge(
        make_emulator,
        tmp_path,
        {"token_lifetime": 120, "event_rate": 100, "slow_reader_seconds": 2},
        queue_max=200,
    )
    await stall_the_store(bridge, burst=2000)
    await eventually(lambda: bridge.worker.writer.unwritten == 0, 45, "the backlog is written")
    await all_sockets_live(bridge)
    result = await finish(bridge, gaps_reported=True)
    assert rotations(bridge)["closed"] >= 1  # the switch did drop a socket that stopped reading
    assert result.lost == 0  # whatever the drops cost (result.in_gaps) lies inside gaps the ledger reports
