"""A fleet gap judged against the EventBridge path: only the shard's own org counts, and only a path that was never
silent past the alarm's limit inside the gap stands in for the sockets."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from evidence.gaps import (
    COVERED_BY_EVENTBRIDGE,
    EVENTBRIDGE_SILENCE_S,
    UNCOVERED,
    classify,
    judge,
    org_of,
    silence_limit,
)


def test_deliveries_of_another_org_do_not_cover_a_shard():
    """Given a 30 s gap on acme:1 and EventBridge deliveries only for globex inside it,
    when judged, then the gap is uncovered and counts no delivery."""
    (gap,) = classify({"acme:1": [(100.0, 130.0)]}, {"globex": [105.0, 110.0, 120.0]})
    assert (gap.classification, gap.eventbridge_events) == (UNCOVERED, 0)


def test_the_shard_s_own_org_delivering_throughout_covers_the_gap():
    """Given acme's deliveries every 10 minutes through a 40-minute gap, when judged, then it is covered by
    EventBridge with its longest silence 10 minutes."""
    start = 1_000.0
    deliveries = [start + 600 * k for k in range(1, 4)]  # +10, +20, +30 min
    gap = judge("acme:0", start, start + 2_400, deliveries)
    assert gap.classification == COVERED_BY_EVENTBRIDGE
    assert (gap.eventbridge_events, gap.eventbridge_silence) == (3, 600.0)


def test_a_path_that_delivered_once_then_went_quiet_does_not_cover():
    """Given one delivery at the start of a gap and then silence longer than the alarm's limit, when judged,
    then the gap is uncovered although EventBridge delivered during it."""
    gap = judge("acme:0", 0.0, EVENTBRIDGE_SILENCE_S + 60.0, [5.0])
    assert gap.eventbridge_events == 1
    assert gap.eventbridge_silence == EVENTBRIDGE_SILENCE_S + 55.0
    assert gap.classification == UNCOVERED


def test_deliveries_outside_the_gap_do_not_count():
    """Given deliveries just before and just after a gap, when judged, then none counts and the gap is uncovered."""
    gap = judge("acme:0", 100.0, 200.0, [99.9, 200.1])
    assert (gap.eventbridge_events, gap.classification) == (0, UNCOVERED)


def test_an_org_name_is_what_precedes_the_shard_number():
    assert org_of("acme-eu:3") == "acme-eu"


@given(
    deliveries=st.lists(st.floats(0, 4_000), max_size=30),
    start=st.floats(0, 2_000),
    length=st.floats(0.001, 2_000),
)
def test_the_longest_silence_never_exceeds_the_gap_and_is_the_gap_without_deliveries(deliveries, start, length):
    gap = judge("o:0", start, start + length, sorted(deliveries))
    assert 0 <= gap.eventbridge_silence <= round(length, 3) + 0.001
    if gap.eventbridge_events == 0:
        assert gap.classification == UNCOVERED
        assert abs(gap.eventbridge_silence - length) <= 0.001


def test_a_busy_table_allows_a_short_silence_only():
    """Given 20 notifications a second before a 30 s gap, and EventBridge delivering events of only its last
    1.4 s (the path came back before the sockets did), when judged, then the gap is uncovered: 28.6 s of silence
    is far beyond the 0.7 s such traffic explains. The same deliveries on a table of one event a minute cover it."""
    deliveries = {"acme": [129.0, 129.5, 130.0]}
    (busy,) = classify({"acme:0": [(100.0, 130.0)]}, deliveries, lambda start: silence_limit(20.0))
    assert busy.silence_limit == 0.7 and busy.classification == UNCOVERED
    (quiet,) = classify({"acme:0": [(100.0, 130.0)]}, deliveries, lambda start: silence_limit(1 / 60))
    assert quiet.silence_limit == 840.0 and quiet.classification == COVERED_BY_EVENTBRIDGE


def test_no_traffic_before_a_gap_leaves_the_alarm_s_limit():
    assert silence_limit(0.0) == EVENTBRIDGE_SILENCE_S
