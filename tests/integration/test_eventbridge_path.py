"""The second path: Genesys' EventBridge integration through SQS into the same store, each path covering the other."""

from __future__ import annotations

import asyncio
import io
import json
import time
from collections import Counter
from typing import Any

import boto3
import pytest

from bridge_cli import main as query_cli
from emulator.eventbridge import EventBridgeConfig
from evidence.queries import EventQueries
from local_stack.eventbridge import LOCAL_BUS, SOURCE, ConsumerLoop, EventBridgePath, create_eventbridge_path
from local_stack.waiting import eventually, while_progressing
from stream_worker.aws import dynamodb_client
from tests.conftest import emf_metrics
from tests.support.bridge import FAST_EMULATOR, TOPICS, fast_bridge, finish, stores_more, table_items

# settle() waits as long as the consumer makes progress, and the outage test holds a 30 s outage by design (48 s
# quiet here; past the suite's 60 s on a busy CI machine)
pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


def emulator_with_eventbridge(make_emulator, aws: str, **switches: Any):
    config = EventBridgeConfig(bus=LOCAL_BUS, source=SOURCE, endpoint_url=aws, **switches)
    return make_emulator(**{**FAST_EMULATOR, "token_lifetime": 30, "eventbridge": config})


def consumer(names, path: EventBridgePath) -> ConsumerLoop:
    environment = {
        "EVENTS_TABLE": names.events_table,
        "PAYLOAD_BUCKET": names.payload_bucket,
        "SOURCES": json.dumps({SOURCE: names.org}),
    }
    return ConsumerLoop(path, environment).start()


def items_by_source(bridge) -> Counter[str]:
    return Counter(i["source"]["S"] for i in table_items(bridge.names.events_table) if i["kind"]["S"] == "event")


async def both_paths(make_emulator, aws, tmp_path, **switches: Any):
    path = create_eventbridge_path(TOPICS)
    emu = emulator_with_eventbridge(make_emulator, aws, target_queue_url=path.queue_url, **switches)
    bridge = fast_bridge(emu, health_file=str(tmp_path / "health.json"))
    loop = consumer(bridge.names, path)
    await bridge.start()
    return bridge, loop


async def settle(bridge, stall: float = 30.0) -> None:
    """Until every event published so far that EventBridge delivered is in the table.

    The generator is paused first: left publishing, it fills the queue faster than the consumer empties it on a
    loaded machine (and moto's SQS slows with the queue's length). Both waits run while they make progress."""
    from evidence.keys import envelope_key

    bridge.fault("pause_events", seconds=3600)
    ready = bridge.worker.coverage_started_at or 0.0  # the rule existed before the worker started
    published = [e for e in bridge.emulator.events() if e.published_at >= ready and e.topic in set(TOPICS)]
    await while_progressing(
        lambda: len({e.seq for e in published} - set(bridge.emulator.eventbridge_paths())),
        stall,
        "EventBridge delivered what was published",
        interval=0.2,
    )
    missing = {envelope_key(e.envelope) for e in published}
    dynamodb = boto3.client("dynamodb")

    def still_missing() -> int:  # by key, only what is still missing: a scan each poll would starve the consumer
        batch = list(missing)[:100]
        answer = dynamodb.batch_get_item(
            RequestItems={
                bridge.names.events_table: {"Keys": [{"pk": {"S": k}} for k in batch], "ProjectionExpression": "pk"}
            }
        )
        missing.difference_update(i["pk"]["S"] for i in answer["Responses"].get(bridge.names.events_table, []))
        return len(missing)

    await while_progressing(still_missing, stall, "the consumer stored what EventBridge delivered", interval=0.5)


async def test_both_paths_up_store_every_event_exactly_once(aws, make_emulator, tmp_path, capsys):
    """Given both paths delivering (CorrelationId per conversation on EventBridge), each event is one item, and the
    per-source metrics add up: what each path stored is what the table holds from it, the rest it absorbed."""
    bridge, loop = await both_paths(make_emulator, aws, tmp_path)
    try:
        await stores_more(bridge, 100)
        assert await bridge.stop() == 0
        await eventually(lambda: len(bridge.emulator.eventbridge_paths()) >= 100, 10, "EventBridge delivers")
        await settle(bridge)
    finally:
        loop.stop()
    result = bridge.verification()
    assert result.ok, result
    by_source = items_by_source(bridge)
    assert by_source["websocket"] > 0
    assert sum(by_source.values()) == len({i["pk"]["S"] for i in table_items(bridge.names.events_table)})

    out = io.StringIO()  # the CLI's view of the same: items per source for a window
    tables = ["--events-table", bridge.names.events_table]
    assert query_cli.main([*tables, "sources", "--since", "1h", "--until", "now"], out=out) == 0
    listed = dict(line.split() for line in out.getvalue().splitlines()[1:])
    assert listed == {**{k: str(v) for k, v in by_source.items()}, "total": str(sum(by_source.values()))}

    metrics = Counter[tuple[str, str]]()
    per_org = Counter[tuple[str, str]]()  # the same counts per org, as EventBridgeSilent-<org> reads them
    for m in emf_metrics(capsys.readouterr().out):
        if m.get("source"):
            (per_org if "org" in m else metrics)[(m["name"], m["source"])] += m["value"]
    for source in ("websocket", "eventbridge"):
        assert metrics[("EventsStored", source)] == by_source[source], source
    assert per_org[("EventsStored", "websocket")] == by_source["websocket"]
    assert per_org[("EventsReceived", "eventbridge")] == metrics[("EventsReceived", "eventbridge")]
    received = metrics[("EventsReceived", "eventbridge")]  # events keep flowing: some are still on their way
    assert 0 < received <= sum(len(ids) for ids in bridge.emulator.eventbridge_paths().values())
    assert metrics[("EventsStored", "eventbridge")] + metrics[("DuplicatesAbsorbed", "eventbridge")] == received
    assert metrics[("DuplicatesAbsorbed", "websocket")] > 0  # two overlapping sockets: every event arrives twice
    assert metrics[("OnlyViaEventBridge", "eventbridge")] == metrics[("EventsStored", "eventbridge")]


async def test_a_total_websocket_outage_loses_nothing_while_eventbridge_flows(aws, make_emulator, tmp_path):
    """Given every worker stopped for 30 s, EventBridge carries the events, and nothing is lost."""
    bridge, loop = await both_paths(make_emulator, aws, tmp_path)
    try:
        await stores_more(bridge, 40)
        outage_start = time.time()
        assert await bridge.stop() == 0
        await asyncio.sleep(30)  # the outage itself: no worker at all
        outage_end = time.time()
        await settle(bridge)
    finally:
        loop.stop()
    truth = [e.as_json() for e in bridge.emulator.events()]
    queries = EventQueries(dynamodb_client(), bridge.names.events_table)
    stored = [i["pk"] for i in queries.by_window(outage_start - 60, time.time() + 60) if i.get("kind") == "event"]
    from stream_worker.verify import verify

    result = verify(truth, stored, set(TOPICS), (outage_start + 1, outage_end))
    assert result.published > 500
    assert result.ok, result
    assert items_by_source(bridge)["eventbridge"] >= result.published


async def test_a_malformed_partner_event_is_quarantined_and_never_blocks_its_batch(aws, make_emulator, tmp_path):
    """Given a malformed message among valid ones in the queue, it is quarantined and the others are stored."""
    bridge, loop = await both_paths(make_emulator, aws, tmp_path)
    try:
        sqs = boto3.client("sqs")
        sqs.send_message(QueueUrl=loop.path.queue_url, MessageBody="{not json")
        sqs.send_message(
            QueueUrl=loop.path.queue_url,
            MessageBody=json.dumps({"id": "x", "detail-type": "d", "source": SOURCE, "detail": {"no": "topic"}}),
        )
        await stores_more(bridge, 40)
        await finish(bridge)
        await settle(bridge)

        def quarantined() -> list[str]:
            return [i["reason"]["S"] for i in table_items(bridge.names.events_table) if i["kind"]["S"] == "quarantine"]

        # the consumer's own outcome, waited on: settling the worker's events says nothing of the two bad messages
        await eventually(lambda: len(quarantined()) == 2, 30, "both malformed messages quarantined", interval=0.2)
    finally:
        loop.stop()
    reasons = quarantined()
    assert len(reasons) == 2
    assert any("not an EventBridge partner event" in r for r in reasons)
    assert any("detail is not a notification" in r for r in reasons)
    dlq = sqs.get_queue_attributes(QueueUrl=loop.path.dead_letters_url, AttributeNames=["ApproximateNumberOfMessages"])
    assert dlq["Attributes"]["ApproximateNumberOfMessages"] == "0"  # kept in quarantine, not failed


async def test_redelivery_after_a_consumer_crash_mid_batch_stores_no_second_item(aws, make_emulator, tmp_path):
    """Given the consumer crashing after half a batch (nothing deleted), SQS redelivers it: no loss, no second item."""
    bridge, loop = await both_paths(make_emulator, aws, tmp_path)
    loop.pause(True)
    try:
        await stores_more(bridge, 40)
        assert await bridge.stop() == 0
        sqs = boto3.client("sqs")
        await asyncio.sleep(1)  # the publisher's delay
        batch = sqs.receive_message(QueueUrl=loop.path.queue_url, MaxNumberOfMessages=10)["Messages"]
        from functions.consume_events.handler import handler
        from local_stack.eventbridge import LocalContext

        handler(loop.event(batch[: len(batch) // 2]), LocalContext())  # half processed, then the crash: no delete
        sqs.change_message_visibility_batch(  # the visibility timeout runs out: SQS offers the whole batch again
            QueueUrl=loop.path.queue_url,
            Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0} for i, m in enumerate(batch)
            ],
        )
        loop.pause(False)
        await settle(bridge)
    finally:
        loop.stop()
    keys = [i["pk"]["S"] for i in table_items(bridge.names.events_table)]
    assert len(keys) == len(set(keys))
    assert bridge.verification().ok


async def test_an_eventbridge_outage_redelivered_later_loses_nothing_and_stores_nothing_twice(
    aws, make_emulator, tmp_path
):
    """Given AWS unreachable from Genesys for 5 s while the sockets flow, Genesys redelivers afterwards: 0 lost, 0 twice."""
    bridge, loop = await both_paths(make_emulator, aws, tmp_path, correlation="different")
    try:
        await stores_more(bridge, 40)
        outage = (time.time(), time.time() + 5)
        bridge.fault("eventbridge_outage", seconds=5)
        await stores_more(bridge, 100)
        assert await bridge.stop() == 0
        await settle(bridge)
    finally:
        loop.stop()
    paths = bridge.emulator.eventbridge_paths()
    held = [e for e in bridge.emulator.events() if e.topic in set(TOPICS) and outage[0] < e.published_at < outage[1]]
    assert len(held) > 50 and all(e.seq in paths for e in held)  # every held event came through later
    result = bridge.verification()
    assert result.ok, result
    assert result.duplicates == 0
    from evidence.keys import envelope_key

    truth_keys = {envelope_key(e.envelope) for e in bridge.emulator.events()}
    keys = [i["pk"]["S"] for i in table_items(bridge.names.events_table) if i["kind"]["S"] == "event"]
    assert set(keys) <= truth_keys  # no item that is not one published event (a second copy would be one)


async def test_duplicate_and_reordered_eventbridge_deliveries_are_absorbed(aws, make_emulator, tmp_path):
    """Given EventBridge delivering a third of events twice under the same id, Genesys sending a tenth twice under
    new ids, out of order, and the CorrelationId differing from the websocket's, every event is still one item."""
    bridge, loop = await both_paths(
        make_emulator, aws, tmp_path, duplicate_rate=0.3, retry_rate=0.1, reorder=True, correlation="different"
    )
    try:
        await stores_more(bridge, 100)
        assert await bridge.stop() == 0
        await settle(bridge)
    finally:
        loop.stop()
    twice = [ids for ids in bridge.emulator.eventbridge_paths().values() if len(ids) > 1]
    assert len(twice) > 10
    assert any(len(set(ids)) < len(ids) for ids in twice)  # EventBridge's redelivery keeps its id
    assert any(len(set(ids)) > 1 for ids in twice)  # Genesys' retry is a new event to EventBridge
    result = bridge.verification()
    assert result.ok, result
    keys = [i["pk"]["S"] for i in table_items(bridge.names.events_table) if i["kind"]["S"] == "event"]
    assert len(keys) == len(set(keys))


async def test_a_pending_partner_bus_drops_events_silently_and_the_websocket_copy_keeps_them(
    aws, make_emulator, tmp_path, capsys
):
    """Given the partner bus Pending (Genesys' events dropped, nothing in SQS), websocket events still flow: nothing
    is lost, and EventBridge's received count stays at 0 while the worker's is not, which is what the silence alarm
    computes."""
    emu = emulator_with_eventbridge(make_emulator, aws)
    bridge = fast_bridge(emu, health_file=str(tmp_path / "health.json"))
    loop = consumer(bridge.names, create_eventbridge_path(TOPICS))
    bridge.fault("eventbridge_pending", seconds=600)
    await bridge.start()
    try:
        await stores_more(bridge, 60)
        assert await bridge.stop() == 0
    finally:
        loop.stop()
    assert bridge.emulator.eventbridge_paths() == {}
    assert bridge.emulator.state.eventbridge is not None and len(bridge.emulator.state.eventbridge.dropped) >= 60
    assert bridge.verification().ok
    received = Counter[str]()
    for m in emf_metrics(capsys.readouterr().out):
        if m["name"] in ("EventsStored", "EventsReceived") and m.get("source"):
            received[m["source"]] += m["value"]
    assert received["websocket"] >= 60 and received["eventbridge"] == 0


async def test_repeated_content_is_kept_once_per_notification_whichever_path_delivers(aws, make_emulator, tmp_path):
    """Given bodies B, B', B on a queue topic and a status sent twice in one millisecond, delivered by two sockets
    and by EventBridge: each notification is one item (B twice, the status twice); EventBridge's copies add none."""
    from evidence.keys import event_key

    queue, routing = "v2.routing.queues.support.conversations", "v2.users.bob.routingStatus"
    body, changed = {"id": "conv-1", "state": "alerting"}, {"id": "conv-1", "state": "connected"}
    status = {"id": "bob", "routingStatus": {"status": "IDLE", "startTime": "2026-12-06T10:00:00.000Z"}}
    keys = [event_key(queue, body), event_key(queue, changed), event_key(routing, status)]

    def recorded_by_eventbridge() -> int:  # EventBridge's copies, each recorded on the item it matched
        rows = [i for i in table_items(bridge.names.events_table) if i.get("content_key", i["pk"])["S"] in keys]
        return sum("arrivals_eventbridge" in i for i in rows)

    bridge, loop = await both_paths(make_emulator, aws, tmp_path)
    try:
        for sent in (body, changed, body):
            bridge.fault("publish", topic=queue, body=sent)
        bridge.fault("publish", topic=routing, body=status, times=2)
        await stores_more(bridge, 40)
        assert await bridge.stop() == 0
        await settle(bridge)

        # B, B' and B's repeat each matched; the status's two copies carry one timestamp: EventBridge cannot tell
        # two identical notifications of one millisecond apart, so both match the first (the websocket kept both).
        # The copies are the consumer's last work (settling waits for what was missing, not for copies)
        def left() -> int:  # the consumer's queue, then the copies not yet recorded (a scan only once it is empty)
            queued = loop.queued()
            return queued + 4 if queued else max(0, 4 - recorded_by_eventbridge())

        await while_progressing(left, 30, "EventBridge's copies recorded", interval=0.5)
    finally:
        loop.stop()
    items = [i for i in table_items(bridge.names.events_table) if i["kind"]["S"] == "event"]
    by_content = Counter(i.get("content_key", i["pk"])["S"] for i in items)
    assert [by_content[k] for k in keys] == [2, 1, 2]
    assert recorded_by_eventbridge() == 4
    result = bridge.verification()
    assert result.ok, result.lost_events[:3]
