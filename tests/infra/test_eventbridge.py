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


@pytest.mark.parametrize("topic", ["v2.users.u1.activity", "v2.users.u1?presence&activity"])
def test_a_topic_no_eventbridge_rule_would_match_fails_synth_with_its_name(topic):
    """Given the EventBridge path on and a topic whose detail-type the rule cannot name (unknown, or inside a
    combined topic), synth fails naming it: that topic would have no backstop and nothing would say so."""
    bridge = copy.deepcopy(WITH_EVENTBRIDGE)
    bridge["orgs"][1]["topics"] = ["v2.routing.queues.q1.conversations", topic]
    with pytest.raises(ConfigError, match=r"no EventBridge rule would match v2\.users\.u1\.activity"):
        load_config({"bridge": bridge}, allow_example=True)
    bridge["orgs"][1]["eventbridge"]["all_topics"] = True  # the rule then takes every event of the source
    assert load_config({"bridge": bridge}, allow_example=True)


def test_combined_topics_are_matched_by_the_detail_types_they_stand_for():
    """Given a combined topic of two known suffixes, the rule matches both templates."""
    bridge = copy.deepcopy(WITH_EVENTBRIDGE)
    bridge["orgs"][1]["topics"] = ["v2.users.u1?presence&routingStatus"]
    (beta,) = [o for o in load_config({"bridge": bridge}, allow_example=True).orgs if o.name == "beta"]
    assert beta.detail_types() == ["v2.users.{id}.presence", "v2.users.{id}.routingStatus"]


def test_eventbridge_silence_is_judged_per_org(tmp_path):
    """Given the silence alarm of beta, both of its metrics carry the org dimension: another org's traffic on
    either path cannot hide a Pending bus (the alarm compares this org's websocket events with its EventBridge ones)."""
    _, template, _ = synth(WITH_EVENTBRIDGE, tmp_path)
    (alarm,) = [
        a["Properties"]
        for a in template.find_resources("AWS::CloudWatch::Alarm").values()
        if "IF(ws > 0" in json.dumps(a["Properties"].get("Metrics", []))
    ]
    stats = [m["MetricStat"]["Metric"] for m in alarm["Metrics"] if "MetricStat" in m]
    assert len(stats) == 2
    for metric in stats:
        assert {"Name": "org", "Value": "beta"} in metric["Dimensions"]
