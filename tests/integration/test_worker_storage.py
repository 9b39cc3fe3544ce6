"""Storage: exactly one item per event, every frame kept somewhere, and the queries served without a scan."""

from __future__ import annotations

import json
import os
import random
import signal
import time
from collections import Counter

import boto3
import pytest

from evidence.keys import envelope_key, event_key
from evidence.queries import EventQueries
from evidence.records import read_envelope
from evidence.store import EventStore
from local_stack.waiting import eventually
from stream_worker.put_lanes import ProcessLanes
from tests.support.bridge import FAST_EMULATOR, TOPICS, fast_bridge, finish, running_bridge, stores_more, table_items

pytestmark = pytest.mark.slow


def quarantine_items(bridge) -> list[dict]:
    return [i for i in table_items(bridge.names.events_table) if i["kind"]["S"] == "quarantine"]


def hostile_frames() -> dict[str, str]:
    """Frames that parse as envelopes but that DynamoDB refuses for good."""
    noise = random.Random(3).randbytes(140_000).hex()  # 280 KB: with the id the envelope is just under inline size
    return {
        "topic over the index key limit": json.dumps(
            {"topicName": "v2.users." + "x" * 5000 + ".presence", "eventBody": {}}
        ),
        "huge correlation id": json.dumps(
            {"topicName": TOPICS[0], "eventBody": {"n": 1}, "metadata": {"CorrelationId": "c" * 300_000}}
        ),
        "inline envelope plus attributes over 400 KB": json.dumps(
            {"topicName": TOPICS[0], "eventBody": {"noise": noise}, "metadata": {"CorrelationId": "k" * 69_000}}
        ),
    }


async def test_malformed_frames_are_quarantined_and_the_socket_stays_up(aws, make_emulator, tmp_path):
    """Given two malformed frames on both sockets, each is kept once in quarantine and the sockets stay up."""
    bridge = await running_bridge(make_emulator, tmp_path, {"token_lifetime": 30})
    channels = bridge.our_channels()
    bridge.fault("malformed_frame", text="{this is not json")
    bridge.fault("malformed_frame", text=json.dumps({"topicName": "v2.users.alice.presence"}))
    await eventually(lambda: bridge.worker.metrics.totals["Quarantined"] == 4, 5, "each frame on both sockets")
    assert bridge.our_channels() == channels
    await finish(bridge)
    assert {i["reason"]["S"] for i in quarantine_items(bridge)} == {"not valid JSON", "no eventBody"}


async def test_frames_the_store_refuses_are_quarantined_whole_and_never_block(aws, make_emulator, tmp_path):
    """Given frames DynamoDB refuses for good among real events, each is quarantined whole and nothing is lost."""
    bridge = await running_bridge(make_emulator, tmp_path, {"token_lifetime": 30})
    frames = hostile_frames()
    # When each arrives on both sockets, in the middle of the stream
    for text in frames.values():
        bridge.fault("malformed_frame", text=text)
    await eventually(lambda: bridge.worker.metrics.totals["WriteRejected"] >= len(frames), 10, "every refusal")
    await stores_more(bridge, 40)
    # Then each is kept whole, with the store's reason, and the writers are free again
    assert bridge.worker.writer.unwritten <= bridge.worker.settings.write_concurrency
    await finish(bridge)
    records = quarantine_items(bridge)
    assert len(records) == len(frames)
    store = EventStore(
        boto3.client("dynamodb"), boto3.client("s3"), bridge.names.events_table, bridge.names.payload_bucket
    )
    from evidence.queries import plain

    kept = {read_envelope(plain(r), store.fetch_payload) for r in records}
    assert kept == set(frames.values())
    assert all(r["reason"]["S"].startswith("store refused the event: ValidationException") for r in records)


async def test_an_envelope_too_large_for_an_item_is_still_stored(aws, make_emulator, tmp_path):
    """Given a 500 KB compressible and a 900 KB incompressible envelope, one is gzipped inline, one goes to S3."""
    bridge = await running_bridge(make_emulator, tmp_path, {"token_lifetime": 30, "event_rate": 0})
    compressible = {"notes": "a" * 500_000}
    rng = random.Random(1)
    incompressible = {"blob": "".join(rng.choice("0123456789abcdef") for _ in range(900_000))}
    bridge.fault("publish", topic=TOPICS[0], body=compressible)
    bridge.fault("publish", topic=TOPICS[0], body=incompressible)
    await eventually(lambda: bridge.worker.metrics.totals["EventsStored"] == 2, 10, "both stored")
    await finish(bridge)
    queries = EventQueries(boto3.client("dynamodb"), bridge.names.events_table)
    stored = list(queries.full(queries.by_topic(TOPICS[0], time.time() - 60, time.time() + 60)))
    assert {("envelope_gz" in i, "envelope_s3" in i) for i in stored} == {(True, False), (False, True)}
    truth = {envelope_key(e.envelope): e.text for e in bridge.emulator.events()}
    store = EventStore(
        boto3.client("dynamodb"), boto3.client("s3"), bridge.names.events_table, bridge.names.payload_bucket
    )
    for item in stored:
        assert read_envelope(item, store.fetch_payload) == truth[item["pk"]]


async def test_the_required_queries_answer_without_a_scan(aws, make_emulator, tmp_path):
    """Given a stored stream, events are found by key, topic, entity, time window and source, each through a key
    lookup or an index query: the query plans (the requests DynamoDB receives) show no Scan."""
    bridge = await running_bridge(make_emulator, tmp_path, {"token_lifetime": 30})
    await stores_more(bridge, 60)
    await finish(bridge)
    client = boto3.client("dynamodb")
    plans: list[tuple[str, dict]] = []
    client.meta.events.register(
        "before-parameter-build.dynamodb.*", lambda params, model, **_: plans.append((model.name, dict(params)))
    )
    queries = EventQueries(client, bridge.names.events_table)
    t1, t2 = time.time() - 60, time.time() + 60
    truth = [e for e in bridge.emulator.events() if e.channels]

    def plan() -> list[tuple[str, str | None, str | None]]:
        found = [(op, p.get("IndexName"), p.get("KeyConditionExpression")) for op, p in plans]
        plans.clear()
        return found

    by_topic = {i["pk"] for i in queries.by_topic("v2.users.alice.presence", t1, t2)}
    assert by_topic == {envelope_key(e.envelope) for e in truth if e.topic == "v2.users.alice.presence"}
    assert plan() == [("Query", "by_entity", "#p = :p AND received_ms BETWEEN :a AND :b")]
    by_queue = {i["pk"] for i in queries.by_entity("queue", "support", t1, t2)}
    assert by_queue == {envelope_key(e.envelope) for e in truth if e.topic == "v2.routing.queues.support.conversations"}
    assert {op for op, _, _ in plan()} == {"Query"}
    listed = list(queries.by_entity("conversation", "c1", t1, t2))
    assert listed and set(listed[0]) == {"pk", "kind", "topic", "channel_id", "source", "entity", "received_ms"}
    by_conversation = list(queries.full(listed))
    assert [i["pk"] for i in by_conversation] == [i["pk"] for i in listed]
    assert all(i["conversation_id"] == "c1" and "envelope" in i for i in by_conversation)
    assert [op for op, _, _ in plan()] == ["Query", "BatchGetItem"]
    window = {i["pk"] for i in queries.by_window(t1, t2) if i["kind"] == "event"}
    assert window == {envelope_key(e.envelope) for e in truth}
    assert {(op, index) for op, index, _ in plan()} == {("Query", "by_time")}  # one per time bucket: 16 an hour
    assert sum(queries.by_source(t1, t2).values()) == len(window)
    assert {(op, index) for op, index, _ in plan()} == {("Query", "by_time")}
    key = envelope_key(truth[0].envelope)
    found = queries.by_key(key)
    assert found is not None and found["pk"] == key
    assert [op for op, _, _ in plan()] == ["GetItem"]


async def test_writer_processes_store_every_event_once_and_survive_one_being_killed(aws, make_emulator, tmp_path):
    """Given two writer processes, one SIGKILLed mid-stream, it is started again and what it held is put again:
    every event stored, none twice (a put it had made comes back as a duplicate)."""
    bridge = await running_bridge(make_emulator, tmp_path, {"token_lifetime": 30}, write_processes=2)
    lanes = bridge.worker.writer._lanes
    assert isinstance(lanes, ProcessLanes)
    await stores_more(bridge, 40)
    victim = lanes.pids()[0]
    os.kill(victim, signal.SIGKILL)
    await eventually(lambda: len(lanes.pids()) == 2 and victim not in lanes.pids(), 15, "the process restarted")
    await stores_more(bridge, 80)
    result = await finish(bridge)
    assert result.published > 100
    keys = [i["pk"]["S"] for i in table_items(bridge.names.events_table)]
    assert len(keys) == len(set(keys))


OBSERVATIONS = "v2.analytics.queues.support.observations"
ROUTING = "v2.users.bob.routingStatus"


async def test_notifications_whose_content_repeats_are_each_kept_and_copies_are_not(aws, make_emulator, tmp_path):
    """Given bodies B, B', B on a queue-observations topic and one routing status sent twice in one millisecond,
    each notification its own CorrelationId, on two overlapping sockets: every notification has its item (B twice,
    the status twice), the second socket's copies are absorbed, and RepeatedContent counts the two repeats."""
    emu = make_emulator(**FAST_EMULATOR)
    bridge = await fast_bridge(emu, [*TOPICS, OBSERVATIONS], health_file=str(tmp_path / "health.json")).start()
    body = {"group": {"queueId": "support"}, "data": [{"metric": "oWaiting", "stats": {"count": 0}}]}
    changed = {"group": {"queueId": "support"}, "data": [{"metric": "oWaiting", "stats": {"count": 1}}]}
    status = {"id": "bob", "routingStatus": {"status": "IDLE", "startTime": "2026-12-06T10:00:00.000Z"}}
    for sent in (body, changed, body):
        bridge.fault("publish", topic=OBSERVATIONS, body=sent)
    bridge.fault("publish", topic=ROUTING, body=status, times=2)
    await eventually(lambda: bridge.worker.metrics.totals["RepeatedContent"] == 2, 10, "both repeats stored")
    result = await finish(bridge)
    assert result.repeated == 2
    items = [i for i in table_items(bridge.names.events_table) if i["kind"]["S"] == "event"]
    by_content = Counter(i.get("content_key", i["pk"])["S"] for i in items)
    keys = [event_key(OBSERVATIONS, body), event_key(OBSERVATIONS, changed), event_key(ROUTING, status)]
    assert [by_content[k] for k in keys] == [2, 1, 2]  # B twice, B' once, the status twice
    assert bridge.worker.metrics.totals["DuplicatesAbsorbed"] > 0  # the other socket's copies, one item each
