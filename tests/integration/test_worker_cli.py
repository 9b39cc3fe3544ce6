"""The query CLI against a stored stream: events by topic, entity and key, coverage, and verification."""

from __future__ import annotations

import io
import json
import time

import pytest

from bridge_cli import main as query_cli
from evidence.keys import envelope_key
from tests.support.bridge import TOPICS, finish, running_bridge, stores_more

pytestmark = pytest.mark.slow


async def test_query_cli_reads_events_coverage_and_verifies(aws, make_emulator, tmp_path):
    """Given a stored stream, the CLI lists it by topic, entity and key, reports no gap, and verifies it."""
    bridge = await running_bridge(make_emulator, tmp_path, {"token_lifetime": 30})
    await stores_more(bridge, 60)
    await finish(bridge)
    start, end = bridge.window()
    tables = ["--events-table", bridge.names.events_table, "--coverage-table", bridge.names.coverage_table]
    since, until = ["--since", str(start - 60)], ["--until", str(time.time() + 60)]

    def run(*argv: str) -> tuple[int, str]:
        out = io.StringIO()
        return query_cli.main([*tables, *argv], out=out), out.getvalue()

    truth = [e for e in bridge.emulator.events() if e.topic == TOPICS[0] and e.channels]
    code, text = run("events", "--topic", TOPICS[0], "--format", "jsonl", *since, *until)
    lines = [json.loads(line) for line in text.splitlines()]
    assert code == 0
    assert sorted(line["pk"] for line in lines) == sorted(envelope_key(e.envelope) for e in truth)
    assert all(line["envelope"]["topicName"] == TOPICS[0] for line in lines)
    code, text = run("events", "--entity", "user:alice", *since, *until)
    assert code == 0
    assert text.count(TOPICS[0]) == len(truth)
    code, text = run("events", "--key", envelope_key(truth[0].envelope), "--format", "jsonl")
    assert json.loads(text)["envelope"] == truth[0].envelope
    code, text = run("coverage", "--shard", "local:0", "--since", str(start), "--until", str(end))
    assert code == 0
    assert "0.000 uncovered second(s) in 0 interval(s)" in text
    code, text = run(
        "verify",
        "--emulator",
        bridge.emulator.base_url,
        *[a for t in TOPICS for a in ("--topic", t)],
        "--since",
        str(start),
        "--until",
        str(end),
    )
    assert code == 0, text
    assert "lost=0" in text


async def test_a_conversations_whole_record_comes_back_in_event_time_order(aws, make_emulator, tmp_path):
    """Given events about conversation c1 on a queue's conversation topic (named by the body) and on its detail
    topic (named by the topic), ``events --conversation c1`` returns every one of them, in event-time order, and
    none about another conversation."""
    bridge = await running_bridge(make_emulator, tmp_path, {"token_lifetime": 30})
    queue_topic, detail_topic = TOPICS[2], TOPICS[3]
    for state in ("alerting", "connected", "disconnected"):
        bridge.fault("publish", topic=queue_topic, body={"id": "c1", "participants": [{"state": state}]})
    await stores_more(bridge, 40)
    await finish(bridge)
    about_c1 = [
        e
        for e in bridge.emulator.events()
        if e.channels and (e.topic == detail_topic or e.envelope["eventBody"].get("id") == "c1")
    ]
    out = io.StringIO()
    tables = ["--events-table", bridge.names.events_table]
    code = query_cli.main([*tables, "events", "--conversation", "c1", "--since", "1h", "--format", "jsonl"], out=out)
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert code == 0
    assert sorted(line["pk"] for line in lines) == sorted(envelope_key(e.envelope) for e in about_c1)
    assert {line["topic"] for line in lines} == {queue_topic, detail_topic}
    times = [line["event_ms"] for line in lines]
    assert times == sorted(times)
    assert all(isinstance(line["arrivals_websocket"], list) for line in lines)


async def test_a_topic_genesys_refuses_is_recorded_and_listed_by_the_report(aws, make_emulator, tmp_path):
    """Given a topic Genesys refuses beside the ones it streams, the refusal is kept in the ledger's table with its
    reason, and the audit report lists it as never streamed (in its JSON and its page)."""
    from tests.support.bridge import fast_bridge

    refused = "v2.users.alice.nosuchthing"
    emu = make_emulator(token_lifetime=30, heartbeat_interval=0.5, event_rate=40)
    bridge = await fast_bridge(emu, [*TOPICS, refused], health_file=str(tmp_path / "health.json")).start()
    await stores_more(bridge, 20)
    await finish(bridge)
    start, end = bridge.window()
    page = tmp_path / "report.html"
    tables = ["--events-table", bridge.names.events_table, "--coverage-table", bridge.names.coverage_table]
    query_cli.main(
        [*tables, "report", "--since", str(start), "--until", str(end), "--out", str(page)], out=io.StringIO()
    )
    figures = json.loads(page.with_suffix(".json").read_text())
    (row,) = figures["rejected_topics"]
    assert (row["org"], row["topic"]) == (bridge.names.org, refused)
    assert row["reason"]
    assert refused in page.read_text()
