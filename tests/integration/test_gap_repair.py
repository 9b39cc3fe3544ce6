"""Gap repair against the emulator's REST APIs (served from what it published) and moto: what a gap hid comes back as
reconstructions linked to the gap, nothing outside it does, and each way a repair can go wrong ends in the status
that says so."""

from __future__ import annotations

import time

import boto3
import httpx
import pytest

from evidence.coverage import topics_item
from evidence.gap_table import GapTable
from evidence.gaps import PARTIAL, PENDING, REPAIRED, UNCOVERED, UNREPAIRABLE, GapRecord
from evidence.queries import plain
from evidence.repair import ReconstructionStore, run_repairs
from evidence.schema import COVERAGE, EVENTS, create_table_kwargs
from evidence.store import EventStore
from genesys.analytics import RepairApi
from tests.conftest import mint

T0 = 1_796_472_000.0  # 2026-12-05T12:00:00Z
QUEUE, USER, OTHER = "q-1", "u-1", "u-2"
TOPICS = [
    f"v2.routing.queues.{QUEUE}.conversations",
    f"v2.users.{USER}.presence",
    f"v2.users.{USER}.routingStatus",
    f"v2.audits.entitytype.user.entityid.{USER}",
]


@pytest.fixture
def tables(aws):
    dynamodb = boto3.client("dynamodb")
    dynamodb.create_table(**create_table_kwargs("events", EVENTS))  # type: ignore[arg-type]
    dynamodb.create_table(**create_table_kwargs("coverage", COVERAGE))  # type: ignore[arg-type]
    boto3.client("s3").create_bucket(Bucket="payloads")
    return GapTable(dynamodb, "coverage"), ReconstructionStore(
        EventStore(dynamodb, boto3.client("s3"), "events", "payloads")
    )


def gap_on(gaps: GapTable, topics: list[str], start: float, end: float) -> GapRecord:
    boto3.client("dynamodb").put_item(TableName="coverage", Item=topics_item("acme:0", topics, T0))
    return gaps.record_gap(GapRecord("acme:0", start, end, UNCOVERED, topics=len(topics)))


def publish(emulator, topic: str, at: float) -> None:
    emulator.call(emulator.state.publish, topic, None, at)


def reconstructions() -> list[dict]:
    """Every reconstruction item (a scan: the test's table is small)."""
    pages = boto3.client("dynamodb").get_paginator("scan").paginate(TableName="events")
    return [plain(i) for page in pages for i in page["Items"] if i["kind"]["S"] == "reconstruction"]


def api_of(emulator, sleeps: list[float] | None = None) -> RepairApi:
    http = httpx.Client(timeout=10)
    sleep = sleeps.append if sleeps is not None else time.sleep  # a 429's wait, recorded instead of slept
    return RepairApi(emulator.base_url, mint(http, emulator.base_url), http, sleep=sleep)


def test_what_the_gap_hid_comes_back_linked_to_it_and_nothing_outside_it(tables, emulator):
    """Given the emulator published conversations on the queue, presence and routing changes and an audit of the
    user, before, inside and after a 30 s gap (and the same for a user the shard does not follow), when the gap is
    repaired, then each change inside it is one reconstruction linked to the gap, naming its API and request and
    what REST cannot give, and the gap is repaired."""
    gaps, store = tables
    inside = [T0 + 5, T0 + 12, T0 + 21]
    for at in [T0 - 40, *inside, T0 + 45]:
        for topic in [*TOPICS, f"v2.users.{OTHER}.presence"]:
            publish(emulator, topic, at)
    gap = gap_on(gaps, TOPICS, T0, T0 + 30)
    api = api_of(emulator)

    (saved,) = run_repairs(gaps, lambda org: api, store, lambda: T0 + 3600, gap_id=gap.id)

    rebuilt = reconstructions()
    assert saved.status == REPAIRED, saved.reasons
    assert saved.rebuilt == {"conversations": 3, "presence": 3, "routingStatus": 3, "audits": 3}
    assert sorted({r["topic"] for r in rebuilt}) == sorted(TOPICS)
    assert all(T0 <= int(r["event_ms"]) / 1000 < T0 + 30 for r in rebuilt)
    # the times the changes happened (the emulator keeps one notification per millisecond: +1 ms at most)
    presence_times = sorted(int(r["event_ms"]) / 1000 for r in rebuilt if r["topic"] == TOPICS[1])
    assert presence_times == pytest.approx(inside, abs=0.01)
    assert {(r["gap_id"], r["source"]) for r in rebuilt} == {(gap.id, "rest")}
    presence = next(r for r in rebuilt if r["topic"] == TOPICS[1])
    assert presence["api"] == "analytics user details" and "modifiedDate" in presence["missing_fields"]
    assert "interval" in presence["request"]
    assert gaps.gap(gap.id).status == REPAIRED  # saved, and read back the same

    again = run_repairs(gaps, lambda org: api, store, lambda: T0 + 3600, gap_id=gap.id)
    assert len(reconstructions()) == len(rebuilt)  # a second run stores nothing twice
    assert again[0].rebuilt == saved.rebuilt


def test_a_429_storm_is_waited_out_and_records_repeated_across_pages_are_kept_once(tables, make_emulator):
    """Given 250 conversations on the queue inside the gap (three pages), every page repeating the previous page's
    last record, and three 429s with Retry-After before the first answer, when repaired, then the client waited
    the Retry-After each time and each conversation is rebuilt once."""
    emulator = make_emulator(analytics_repeat=1.0, analytics_total_jitter=0.3)
    gaps, store = tables
    for n in range(250):
        publish(emulator, TOPICS[0], T0 + 1 + n * 0.1)
    gap = gap_on(gaps, TOPICS[:1], T0, T0 + 30)
    sleeps: list[float] = []
    api = api_of(emulator, sleeps)
    emulator.fault("fail_requests", status=429, count=3, retry_after=2)

    (saved,) = run_repairs(gaps, lambda org: api, store, lambda: T0 + 3600, gap_id=gap.id)

    assert saved.status == REPAIRED, saved.reasons
    assert sleeps == [2.0, 2.0, 2.0]
    assert saved.rebuilt == {"conversations": 250}
    assert len(reconstructions()) == 250


def test_a_missing_permission_is_named_in_the_gap_and_the_rest_is_still_rebuilt(tables, make_emulator):
    """Given an OAuth client without the user-details permission, when the gap is repaired, then conversations and
    audits are rebuilt, the status is partial, and the reason names the missing permission."""
    emulator = make_emulator(forbidden_apis=("users",))
    gaps, store = tables
    for topic in TOPICS:
        publish(emulator, topic, T0 + 5)
    gap = gap_on(gaps, TOPICS, T0, T0 + 30)

    (saved,) = run_repairs(gaps, lambda org: api_of(emulator), store, lambda: T0 + 3600, gap_id=gap.id)

    assert saved.status == PARTIAL
    assert saved.rebuilt == {"conversations": 1, "audits": 1}
    assert any("user details" in r and "analytics:userDetail:view" in r for r in saved.reasons or [])


def test_a_ten_day_gap_is_asked_in_pieces_the_api_accepts(tables, emulator):
    """Given a 10-day gap (the details APIs refuse intervals over 7 days with 400), when repaired, then every
    request's interval is at most 7 days and a change on day 9 is rebuilt."""
    gaps, store = tables
    day9 = T0 - 86_400  # a gap in the past: the emulator, like Genesys, knows nothing of the future
    publish(emulator, TOPICS[1], day9)
    gap = gap_on(gaps, TOPICS[1:2], T0 - 10 * 86_400, T0)
    api = api_of(emulator)

    (saved,) = run_repairs(gaps, lambda org: api, store, lambda: T0 + 3600, gap_id=gap.id)

    assert saved.status == REPAIRED, saved.reasons
    assert saved.rebuilt == {"presence": 1}
    intervals = [r["body"]["interval"] for r in api.requests]
    assert len(intervals) == 2
    assert all(len(i.split("/")) == 2 for i in intervals)


def test_a_shard_whose_topics_no_rest_api_rebuilds_is_unrepairable_with_the_reason(tables, emulator):
    gaps, store = tables
    gap = gap_on(gaps, ["v2.analytics.queues.q-1.observations"], T0, T0 + 30)

    (saved,) = run_repairs(gaps, lambda org: api_of(emulator), store, lambda: T0 + 3600, gap_id=gap.id)

    assert saved.status == UNREPAIRABLE
    assert saved.reasons == ["not rebuilt from REST: v2.analytics.queues.{id}.observations (1 topic(s))"]


def test_a_gap_waits_for_its_settle_time_and_for_data_genesys_says_is_available(tables, make_emulator):
    """Given a gap that ended 5 minutes ago, it is not repaired; 11 minutes after it ended but with Genesys' data
    available only up to before its end, still not; where the data is available, it is."""
    gaps, store = tables
    gap = gap_on(gaps, TOPICS[1:2], T0, T0 + 30)
    lagging = api_of(make_emulator(analytics_availability_lag=time.time() - T0 + 600))  # available to T0 - 10 min
    current = api_of(make_emulator())
    assert run_repairs(gaps, lambda org: current, store, lambda: T0 + 330) == []
    assert run_repairs(gaps, lambda org: lagging, store, lambda: T0 + 700) == []
    assert gaps.gap(gap.id).status == PENDING
    assert [g.id for g in run_repairs(gaps, lambda org: current, store, lambda: T0 + 700)] == [gap.id]
