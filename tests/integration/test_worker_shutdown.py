"""The worker process: SIGTERM drains every event and exits 0 in time; bad configuration exits 2."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import boto3
import pytest

from evidence.queries import EventQueries
from local_stack.minter_loop import MinterLoop
from local_stack.resources import StackNames, create_resources, org_config, worker_env
from local_stack.waiting import eventually_sync
from stream_worker.verify import verify
from tests.conftest import emf_metrics
from tests.integration.test_worker_storage import hostile_frames
from tests.support.bridge import FAST_EMULATOR, MINTER_POLICY, TOPICS, WORKER_DEFAULTS, table_items

pytestmark = pytest.mark.slow


@contextmanager
def worker_process(emu, tmp_path, **settings) -> Iterator[tuple[subprocess.Popen[str], StackNames, dict[str, str]]]:
    """Given: the local stack's resources, the minter on its schedule, and ``python -m stream_worker`` connected."""
    names = StackNames()
    create_resources(names)
    minter = MinterLoop(org_config(names, emu.base_url), MINTER_POLICY, 0.5).start()
    env = {
        **os.environ,
        **worker_env(
            names, emu.base_url, TOPICS, **{**WORKER_DEFAULTS, "health_file": str(tmp_path / "h.json"), **settings}
        ),
        "POWERTOOLS_METRICS_NAMESPACE": "GenesysBridgeTest",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "stream_worker"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )

    def alive() -> None:
        assert process.poll() is None, "the worker exited"

    try:
        eventually_sync(lambda: emu.snapshot()["sockets"] >= 2, 20, "the worker connects both sockets", unless=alive)
        yield process, names, env
    finally:
        minter.stop()
        if process.poll() is None:
            process.kill()
            process.communicate()


def stored_keys(names: StackNames, since: float) -> list[str]:
    queries = EventQueries(boto3.client("dynamodb"), names.events_table)
    return [i["pk"] for i in queries.by_window(since - 60, time.time() + 60) if i.get("kind") == "event"]


def test_sigterm_in_the_middle_of_a_burst_flushes_everything_and_exits_0(aws, make_emulator, tmp_path):
    """Given a connected worker process, SIGTERM during a 1,500-event burst stores all of them and exits 0."""
    emu = make_emulator(**{**FAST_EMULATOR, "token_lifetime": 60, "event_rate": 0})
    with worker_process(emu, tmp_path) as (process, names, env):
        healthy = subprocess.run(
            [sys.executable, "-m", "stream_worker.health"], env=env, capture_output=True, text=True
        )
        assert healthy.returncode == 0, healthy.stdout
        window_start = time.time()
        emu.fault("burst", count=1500)
        process.send_signal(signal.SIGTERM)
        window_end = time.time()
        output, _ = process.communicate(timeout=60)
    assert process.returncode == 0, output[-3000:]
    result = verify(
        [e.as_json() for e in emu.events()], stored_keys(names, window_start), set(TOPICS), (window_start, window_end)
    )
    assert result.published == 1500
    assert result.ok, result
    assert '"stream worker stopped"' in output
    # And the shutdown pages nobody: no LiveSockets=0 and no uncovered second, though every socket was closed
    metrics = emf_metrics(output)
    assert [m for m in metrics if m["name"] == "LiveSockets" and m["value"] < 1] == []
    assert sum(m["value"] for m in metrics if m["name"] == "UncoveredSeconds") == 0
    assert sum(m["value"] for m in metrics if m["name"] == "EventsStored") >= 1500


def test_frames_the_store_refuses_never_stop_a_sigterm_drain(aws, make_emulator, tmp_path):
    """Given refused frames among a burst, SIGTERM still stores every real event, quarantines each, and exits 0."""
    emu = make_emulator(**{**FAST_EMULATOR, "token_lifetime": 60, "event_rate": 0})
    with worker_process(emu, tmp_path, drain_timeout=20) as (process, names, _):
        window_start = time.time()
        emu.fault("burst", count=300)
        for text in hostile_frames().values():
            emu.fault("malformed_frame", text=text)
        emu.fault("burst", count=300)
        process.send_signal(signal.SIGTERM)
        window_end = time.time()
        stopped = time.monotonic()
        output, _ = process.communicate(timeout=60)
        took = time.monotonic() - stopped
    assert process.returncode == 0, output[-3000:]
    assert took < 20
    result = verify(
        [e.as_json() for e in emu.events()], stored_keys(names, window_start), set(TOPICS), (window_start, window_end)
    )
    assert result.published == 600
    assert result.ok, result
    items = table_items(names.events_table)
    assert sum(1 for i in items if i["kind"]["S"] == "quarantine") == len(hostile_frames())


def test_invalid_configuration_exits_2_with_a_clear_message(aws):
    """Given a non-numeric SOCKETS_PER_SHARD, the worker exits 2 and names the variable."""
    env = {**os.environ, **worker_env(StackNames(), "http://127.0.0.1:9", TOPICS, sockets_per_shard="many")}
    result = subprocess.run(
        [sys.executable, "-m", "stream_worker"], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert "SOCKETS_PER_SHARD" in result.stderr
