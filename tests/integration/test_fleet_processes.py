"""The fleet as real processes: active-active tasks survive a crash and a rolling replacement losing nothing, and
the ledger never claims a second whose events were not stored."""

from __future__ import annotations

import time

import pytest

from local_stack.fleet import LocalFleet
from local_stack.waiting import eventually_sync
from tests.support.bridge import FAST_EMULATOR, MINTER_POLICY, TOPICS, WORKER_DEFAULTS

pytestmark = pytest.mark.slow
ONE_SOCKET = {**WORKER_DEFAULTS, "sockets_per_shard": 1, "ledger_interval": 0.2}


@pytest.fixture
def fleet(aws, make_emulator, tmp_path):
    emu = make_emulator(**{**FAST_EMULATOR, "token_lifetime": 60, "event_rate": 0})
    fleet = LocalFleet(emu, TOPICS, MINTER_POLICY, tmp_path / "fleet", ONE_SOCKET).start()
    yield fleet
    for worker in fleet.workers.values():
        if worker.alive():
            worker.process.kill()
    fleet.stop()


def items_per_key(fleet: LocalFleet, since: float) -> list[int]:
    from collections import Counter

    return sorted(set(Counter(fleet.stored_keys(since)).values()))


def test_two_tasks_survive_one_sigkill_in_a_burst(fleet):
    """Given two tasks with one socket each on every shard, SIGKILL of one mid-burst loses nothing, stores once."""
    a, b = fleet.add_worker(), fleet.add_worker()
    fleet.wait_connected(a)
    fleet.wait_connected(b)
    start = time.time()
    fleet.emulator.fault("burst", count=800)
    fleet.kill(a.worker_id)
    fleet.emulator.fault("burst", count=800)
    end = time.time()
    eventually_sync(lambda: len(fleet.stored_keys(start)) >= 1600, 30, "the burst is stored")
    assert fleet.stop() == {b.worker_id: 0}
    result = fleet.verification((start, end))
    assert result.published == 1600
    assert result.ok, result
    assert items_per_key(fleet, start) == [1]
    assert fleet.coverage((start, end)).gaps == []  # no fleet gap: b covered every second


def test_a_rolling_replacement_loses_nothing(fleet):
    """Given tasks a and b, starting c and then SIGTERMing a (as a deploy does) loses nothing."""
    a, b = fleet.add_worker(), fleet.add_worker()
    fleet.wait_connected(a)
    fleet.wait_connected(b)
    start = time.time()
    fleet.emulator.fault("burst", count=300)
    c = fleet.add_worker()
    fleet.wait_connected(c)
    fleet.emulator.fault("burst", count=300)
    assert fleet.terminate(a.worker_id) == 0
    fleet.emulator.fault("burst", count=300)
    end = time.time()
    eventually_sync(lambda: len(fleet.stored_keys(start)) >= 900, 30, "every burst is stored")
    assert fleet.stop() == {b.worker_id: 0, c.worker_id: 0}
    result = fleet.verification((start, end))
    assert result.published == 900
    assert result.ok, result
    assert fleet.coverage((start, end)).gaps == []


def test_the_ledger_of_a_task_killed_in_a_burst_never_claims_an_unstored_event(fleet):
    """Given one task alone, SIGKILLed mid-burst, every event it did not store lies in an uncovered interval."""
    a = fleet.add_worker(delivery_allowance=1.0)
    fleet.wait_connected(a)
    start = time.time()
    for n in range(1, 7):  # a steady stream the worker keeps up with
        fleet.emulator.fault("burst", count=50)
        want = 50 * n
        eventually_sync(lambda: len(fleet.stored_keys(start)) >= want, 10, "the stream is stored")  # noqa: B023
    # then a burst it cannot have stored yet when it is killed
    fleet.emulator.fault("burst", count=1000)
    fleet.kill(a.worker_id)
    end = time.time()
    truth = [e for e in fleet.emulator.events() if e.topic in set(TOPICS) and start <= e.published_at <= end]
    stored = set(fleet.stored_keys(start))
    from evidence.keys import envelope_key

    unstored = [e for e in truth if envelope_key(e.envelope) not in stored]
    gaps = fleet.coverage((start - 5, end + 5)).gaps
    # every unstored event: received (at the latest) when published + delivery; the ledger must not cover that time
    claimed = [e for e in unstored if not any(g0 <= e.published_at <= g1 for g0, g1 in gaps)]
    covered = (end + 5 - (start - 5)) - sum(g1 - g0 for g0, g1 in gaps)
    print(f"published={len(truth)} stored={len(truth) - len(unstored)} unstored={len(unstored)} covered={covered:.2f}s")
    assert unstored, "the kill must land before the last burst was stored"
    assert covered > 1.0, "the ledger claims the seconds whose events were stored"
    assert claimed == [], f"{len(claimed)} unstored events inside claimed coverage"
