"""The bench's sliced comparisons: the two sides take turns so that drift weighs on both, and a child measures a
slice only when told."""

from __future__ import annotations

import io
import json

import pytest

from tests.bench.slices import Commands, slice_figures, totals, turns


def test_two_sides_take_turns_so_a_steady_drift_weighs_on_both_alike():
    """Given four slices each, when the turns are laid out, each side goes four times, and the mean position of
    each side's turns is the same (a pace that drifts steadily over the round costs both the same)."""
    order = turns(4)
    assert order == [0, 1, 1, 0, 0, 1, 1, 0]
    positions = {side: [i for i, s in enumerate(order) if s == side] for side in (0, 1)}
    assert sum(positions[0]) == sum(positions[1])


def test_a_child_says_ready_then_measures_one_slice_per_go_and_stops_at_end():
    """Given a parent that says go twice and then end, when the child loops on next(), it announces itself once,
    runs two slices and reports each as one line the parent can read."""
    stdin, stdout = io.StringIO("go\ngo\nend\n"), io.StringIO()
    commands = Commands(stdin=stdin, stdout=stdout)
    slices = 0
    while commands.next():
        slices += 1
        commands.report(slice_figures(100, 0.01 * slices, 0.02))
    lines = stdout.getvalue().splitlines()
    assert slices == 2
    assert lines[0] == "ready"
    assert [json.loads(line.removeprefix("slice ")) for line in lines[1:]] == [
        {"events": 100, "cpu_s": 0.01, "wall_s": 0.02},
        {"events": 100, "cpu_s": 0.02, "wall_s": 0.02},
    ]


def test_a_parent_that_goes_away_ends_the_child():
    """Given the parent's pipe closed (EOF) before any word, the child runs no slice."""
    commands = Commands(stdin=io.StringIO(""), stdout=io.StringIO())
    assert commands.next() is False


def test_a_single_run_counts_its_slices_itself_and_prints_nothing():
    """Given no parent (count=3), the child runs three slices and writes nothing to stdout."""
    stdout = io.StringIO()
    commands = Commands(count=3, stdout=stdout)
    ran = 0
    while commands.next():
        ran += 1
        commands.report(slice_figures(10, 0.1, 0.2))
    assert ran == 3
    assert stdout.getvalue() == ""
    assert totals(commands.results) == pytest.approx({"events": 30, "cpu_s": 0.3, "wall_s": 0.6})
