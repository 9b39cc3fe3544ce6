"""Partner events read as notifications: the event's own time is kept beside the receive time."""

from __future__ import annotations

import json

from evidence.records import event_item
from functions.consume_events.partner_events import notification
from genesys.timefmt import iso_ms

SOURCE = "aws.partner/genesys.com/cloud/7f6e5d4c-0000-4000-8000-000000000001/bridge"


def partner_event(detail: dict) -> str:
    return json.dumps(
        {"version": "0", "id": "e-1", "detail-type": "v2.users.{id}.presence", "source": SOURCE, "detail": detail}
    )


def test_an_event_delivered_days_late_keeps_the_time_it_happened():
    """Given a partner event Genesys redelivers three days after an outage, its item carries the detail's
    timestamp as the event time and the real receive time beside it."""
    happened, received = 1_800_000_000.123, 1_800_259_200.0
    detail = {
        "topicName": "v2.users.u1.presence",
        "version": "2",
        "eventBody": {"id": "u1"},
        "metadata": {"CorrelationId": "c"},
        "timestamp": iso_ms(happened),
    }
    event = notification(partner_event(detail), {SOURCE: "acme"}, received)
    assert event.event_at == happened
    item, _ = event_item(event)
    assert item["event_ms"] == {"N": str(int(happened * 1000))}
    assert item["received_ms"] == {"N": str(int(received * 1000))}


def test_without_a_readable_timestamp_the_receive_time_stands_in():
    """Given a detail with no timestamp, or one that is not a time, the event time is the receive time."""
    for extra in ({}, {"timestamp": "yesterday"}, {"timestamp": 12}):
        detail = {"topicName": "v2.users.u1.presence", "eventBody": {"id": "u1"}, **extra}
        assert notification(partner_event(detail), {SOURCE: "acme"}, 1_800_000_000.0).event_at == 1_800_000_000.0
