"""The EventBridge path as deployed: the partner bus, a rule by detail-type, SQS with a DLQ, the consumer, alarms."""

from __future__ import annotations

import copy
import json

import pytest
from aws_cdk.assertions import Match

from infra.config import ConfigError, load_config
from tests.infra.conftest import BRIDGE, cfn_lint, synth

SOURCE = "aws.partner/genesys.com/cloud/7f6e5d4c-0000-4000-8000-000000000001/bridge"
WITH_EVENTBRIDGE = copy.deepcopy(BRIDGE)
WITH_EVENTBRIDGE["orgs"][1]["eventbridge"] = {"event_source_name": SOURCE}


def test_the_partner_source_feeds_a_queue_and_the_consumer(tmp_path):
    """Given beta's partner source, the stack associates it, filters its topics by detail-type, and consumes them."""
    _, template, path = synth(WITH_EVENTBRIDGE, tmp_path)
    cfn_lint(path)
    template.has_resource_properties("AWS::Events::EventBus", {"Name": SOURCE, "EventSourceName": SOURCE})
    template.has_resource_properties(
        "AWS::Events::Rule",
        {"EventPattern": {"source": [SOURCE], "detail-type": ["v2.routing.queues.{id}.conversations"]}},
    )
    template.has_resource_properties(
        "AWS::SQS::Queue",
        {"MessageRetentionPeriod": 1_209_600, "RedrivePolicy": Match.object_like({"maxReceiveCount": 5})},
    )
    template.has_resource_properties(
        "AWS::Lambda::EventSourceMapping", {"BatchSize": 10, "FunctionResponseTypes": ["ReportBatchItemFailures"]}
    )
    consumer = next(
        f
        for f in template.find_resources("AWS::Lambda::Function").values()
        if f["Properties"].get("Handler") == "functions.consume_events.handler.handler"
    )
    assert json.loads(consumer["Properties"]["Environment"]["Variables"]["SOURCES"]) == {SOURCE: "beta"}
    alarms = [a["Properties"] for a in template.find_resources("AWS::CloudWatch::Alarm").values()]
    names = {a.get("AlarmDescription", "")[:40] for a in alarms}
    assert any("partner events EventBridge or the consumer" in n or "beta: partner" in n for n in names)
    assert any("Metrics" in a and "IF(ws > 0" in json.dumps(a["Metrics"]) for a in alarms)


@pytest.mark.parametrize(
    "name",
    ["aws.partner/genesys.com/cloud/x/y/z", "aws.partner/other.com/cloud/7f6e/bridge", "genesys/bridge"],
)
def test_a_malformed_partner_source_name_is_refused_at_synth(name):
    bridge = copy.deepcopy(BRIDGE)
    bridge["orgs"][1]["eventbridge"] = {"event_source_name": name}
    with pytest.raises(ConfigError, match="event_source_name"):
        load_config({"bridge": bridge}, allow_example=True)
