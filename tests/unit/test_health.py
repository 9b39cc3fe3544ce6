"""The container health check: healthy while the process and its loop are alive, whatever Genesys or DynamoDB do."""

from __future__ import annotations

from stream_worker.health import HealthState, check


def test_failing_writes_and_no_sockets_are_reported_but_healthy(tmp_path):
    """Given a live loop whose writes fail and whose shards have no socket, the task stays healthy (alarms page)."""
    path = str(tmp_path / "h.json")
    HealthState(ts=1000.0, live={"o:0": 0}, writes_failing_for=300.0, waiting_for_token=["o"]).write(path)
    ok, why = check(path, max_age=30, now=1010.0)
    assert ok
    assert "writes failing for 300 s" in why
    assert "waiting for a token: o" in why


def test_a_stale_state_means_a_stuck_loop(tmp_path):
    """Given a state not rewritten for longer than the limit, the task is unhealthy (a restart can help)."""
    path = str(tmp_path / "h.json")
    HealthState(ts=1000.0, live={"o:0": 2}).write(path)
    ok, why = check(path, max_age=30, now=1031.0)
    assert not ok
    assert "31 s old" in why


def test_no_state_is_unhealthy(tmp_path):
    ok, why = check(str(tmp_path / "missing.json"), max_age=30, now=0.0)
    assert not ok
    assert "no readable health state" in why


def test_the_state_reads_back_as_written(tmp_path):
    path = str(tmp_path / "h.json")
    state = HealthState(ts=5.0, live={"a:0": 1, "a:1": 2}, writes_failing_for=1.5, waiting_for_token=["b"])
    state.write(path)
    assert HealthState.read(path) == state


def test_a_writer_that_stopped_dispatching_is_unhealthy(tmp_path):
    """Given a fresh state from a worker whose writer stopped, the task is unhealthy: it stores nothing any more."""
    path = str(tmp_path / "h.json")
    HealthState(ts=1000.0, live={"o:0": 2}, writer_stopped=True).write(path)
    ok, why = check(path, max_age=30, now=1001.0)
    assert not ok
    assert "writer stopped" in why
