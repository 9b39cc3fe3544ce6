"""Writer processes: a process that dies is replaced and what it held is put again; the hand-over never fails."""

from __future__ import annotations

import asyncio
import os
import signal
import threading

import pytest

from genesys.backoff import Backoff
from local_stack.waiting import eventually, eventually_sync
from stream_worker.put_lanes import ProcessLanes, PutDone, PutRequest
from tests.support.fakes import ScriptedStore

pytestmark = pytest.mark.slow


def request(seq: int) -> PutRequest:
    return PutRequest(seq, f"{seq:064x}", {"pk": {"S": f"{seq:064x}"}}, None)


async def test_a_burst_sent_to_a_killed_writer_process_is_parked_and_put_by_its_replacement():
    """Given a writer process SIGKILLed, when a burst is handed over before its death is noticed, no hand-over
    raises (a send to the dead pipe is parked), the process is replaced and every put is answered."""
    lanes = ProcessLanes(ScriptedStore, processes=1, threads=1, backoff=Backoff)
    answered: set[int] = set()
    lock = threading.Lock()

    def deliver(reports):
        with lock:
            answered.update(r.seq for r in reports if isinstance(r, PutDone))

    lanes.start(deliver)
    try:
        await eventually(lambda: len(lanes.pids()) == 1, 30, "the process started")
        victim = lanes._lanes[0]
        assert victim is not None
        with lanes._lock:  # its reader cannot take the dead lane off the list while this is held
            os.kill(victim.process.pid, signal.SIGKILL)
            eventually_sync(lambda: not victim.process.is_alive(), 10, "the process is dead")
        seqs = range(1, 401)
        for start in seqs[::4]:  # a burst in small batches, as the dispatcher hands them over, at once: the first
            lanes.put_many([request(s) for s in range(start, start + 4)])  # ones go to the dead lane, still listed
        await eventually(lambda: len(lanes.pids()) == 1, 30, "a new process started")
        await eventually(lambda: answered >= set(seqs), 60, "every put answered")
        assert victim.process.pid not in lanes.pids()
    finally:
        await asyncio.to_thread(lanes.stop)
