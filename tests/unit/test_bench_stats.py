"""The bench's figures as distributions: judged on the median, a spread across the target said as such."""

from __future__ import annotations

import pytest

from tests.bench.stats import MET, MISSED, STRADDLES, Figure


def test_a_target_is_judged_on_the_median_and_a_run_beyond_it_is_named():
    """Given five runs of a 'at most 1.1' ratio, when all are under it, it is met; when the median is under it but
    one run is over, it straddles; when the median is over it, it is missed whatever the best run says."""
    assert Figure.of([1.02, 1.05, 1.04, 1.08, 1.01]).verdict(1.1, "max") == MET
    assert Figure.of([1.02, 1.05, 1.04, 1.18, 1.01]).verdict(1.1, "max") == STRADDLES
    assert Figure.of([1.12, 1.15, 1.04, 1.18, 1.01]).verdict(1.1, "max") == MISSED
    assert Figure.of([1.9, 1.85, 1.7]).verdict(1.8, "min") == STRADDLES


def test_a_ratio_pairs_runs_of_the_same_round_and_reports_its_spread():
    """Given worker and baseline runs of three rounds, the ratio is taken round by round, not best over best."""
    figure = Figure.ratio([110, 220, 105], [100, 200, 100])
    assert figure.runs == pytest.approx((1.1, 1.1, 1.05))
    assert figure.median == pytest.approx(1.1)
    assert figure.shown(2) == "1.10 [1.05-1.10]"
    assert figure.as_json()["runs"] == list(figure.runs)
    with pytest.raises(ValueError, match="one baseline run per run"):
        Figure.ratio([1, 2], [1])


def test_two_bench_runs_agree_when_each_median_lies_in_the_other_spread():
    """Given two runs of the bench, they agree only when each one's median lies inside the other's spread."""
    first = Figure.of([40, 42, 44, 41, 43])
    assert first.agrees_with(Figure.of([41, 43, 45, 42, 44]))
    assert not first.agrees_with(Figure.of([47, 49, 52, 48, 50]))
