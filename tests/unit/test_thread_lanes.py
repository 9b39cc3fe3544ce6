"""How a batch handed to the lane threads is cut into runs: one per waiting thread, never longer than RUN_MAX."""

from __future__ import annotations

from stream_worker.put_lanes import RUN_MAX, PutRequest, runs_of


def batch(count: int) -> list[PutRequest]:
    return [PutRequest(seq, f"k{seq}", {"pk": {"S": f"k{seq}"}}, None) for seq in range(count)]


def test_a_burst_is_spread_over_the_waiting_threads():
    """Given 16 threads waiting, when 20 puts are handed over, they go out as 16 runs of one or two, in order."""
    runs = runs_of(batch(20), waiting=16)
    assert len(runs) == 16
    assert sorted({len(run) for run in runs}) == [1, 2]
    assert [put.seq for run in runs for put in run] == list(range(20))


def test_puts_freed_while_every_thread_is_busy_go_out_as_one_run():
    """Given no thread waiting, when the 7 puts freed by one run's answers are handed over, they are one run (the
    thread that answered takes it), not seven runs of one."""
    assert [len(run) for run in runs_of(batch(7), waiting=0)] == [7]


def test_no_run_is_longer_than_run_max():
    """Given no thread waiting, when more than RUN_MAX puts are handed over, no run holds more than RUN_MAX."""
    runs = runs_of(batch(3 * RUN_MAX + 1), waiting=0)
    assert len(runs) == 4
    assert max(len(run) for run in runs) <= RUN_MAX
    assert sum(len(run) for run in runs) == 3 * RUN_MAX + 1


def test_nothing_handed_over_makes_no_run():
    assert runs_of([], waiting=4) == []
