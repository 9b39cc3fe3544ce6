"""The fleet as deployed: OAuth client pools, one service per worker group, fleet coverage and its alarms."""

from __future__ import annotations

import copy
import json

import pytest

from infra.config import ConfigError, load_config
from tests.infra.conftest import BRIDGE, synth

CONTACT_CENTRE = {
    **copy.deepcopy(BRIDGE),
    "worker_replicas": 1,
    "sockets_per_shard": 2,  # two sockets in one task: 3 shards per client
    "orgs": [
        {
            "name": "big",
            "region": "mypurecloud.com",
            "templates": [{"template": "v2.users.{id}.presence", "ids": [f"u{i}" for i in range(12_000)]}],
            "clients": [
                {"name": "a"},
                {"name": "b"},
                {"name": "c"},
                {"name": "d", "credentials_secret_name": "kept/d"},
            ],
        }
    ],
}


def test_shards_fill_clients_in_order_and_appending_topics_moves_none():
    """Given 12,000 topics over four clients, shards go to clients in order; 500 more topics move no shard."""
    config = load_config({"bridge": CONTACT_CENTRE}, allow_example=True)
    groups = config.groups()
    assert [(g.name, [s.id for s in g.shards]) for g in groups] == [
        ("big", ["big:0", "big:1", "big:2"]),
        ("big.b", ["big:3", "big:4", "big:5"]),
        ("big.c", ["big:6", "big:7", "big:8"]),
        ("big.d", ["big:9", "big:10", "big:11"]),
    ]
    grown = copy.deepcopy(CONTACT_CENTRE)
    grown["orgs"][0]["templates"][0]["ids"] += [f"n{i}" for i in range(500)]
    grown["orgs"][0]["clients"].append({"name": "e"})
    before = {s.id: s.topics for s in config.shards()}
    after = {s.id: s.topics for s in load_config({"bridge": grown}, allow_example=True).shards()}
    assert all(after[shard] == topics for shard, topics in before.items())
    assert len(after) == 13


def test_a_worker_group_runs_its_own_shards_under_their_plan_ids():
    """Given the second client's group, its worker settings carry only its topics, numbered from shard 3."""
    config = load_config({"bridge": CONTACT_CENTRE}, allow_example=True)
    group = config.groups()[1]
    settings = config.group_settings(group)
    (org,) = settings.orgs
    assert org.token_secret == "genesys-bridge/big/b/token"
    assert org.first_shard == 3
    from stream_worker.sharding import plan_shards

    assert [s.id for s in plan_shards(settings)] == ["big:3", "big:4", "big:5"]
    assert settings.channel_budget == 10  # Genesys' 20 shared by the two tasks of a deploy


def test_one_service_per_group_and_fleet_alarms_per_shard(tmp_path):
    """Given the contact centre, the stack has four worker services, four tokens minted, and fleet alarms per shard."""
    _, template, _ = synth(CONTACT_CENTRE, tmp_path)
    services = template.find_resources("AWS::ECS::Service")
    assert len(services) == 4
    environments = [
        {v["Name"]: v.get("Value") for v in t["Properties"]["ContainerDefinitions"][0]["Environment"]}
        for t in template.find_resources("AWS::ECS::TaskDefinition").values()
    ]
    first_shards = sorted(json.loads(e["WORKER_ORGS"])[0]["first_shard"] for e in environments)
    assert first_shards == [0, 3, 6, 9]
    minter = next(
        f
        for f in template.find_resources("AWS::Lambda::Function").values()
        if f["Properties"].get("Handler") == "functions.mint_token.handler.handler"
    )
    minted = json.loads(minter["Properties"]["Environment"]["Variables"]["ORGS"])
    assert [o["name"] for o in minted] == ["big", "big.b", "big.c", "big.d"]
    assert minted[3]["credentials_secret"] == "kept/d"
    alarms = [a["Properties"] for a in template.find_resources("AWS::CloudWatch::Alarm").values()]
    fleet = [a for a in alarms if a.get("MetricName") == "FleetUncoveredSeconds"]
    assert len(fleet) == 12
    template.has_resource_properties("AWS::Scheduler::Schedule", {"ScheduleExpression": "rate(1 minute)"})


@pytest.mark.parametrize(("replicas", "sockets", "per_client"), [(2, None, 5), (1, None, 3), (2, 2, 3)])
def test_topics_per_client_follow_replicas_and_sockets(replicas, sockets, per_client):
    """Given N tasks (2 during a deploy either way) and S sockets per task, a client carries 20 / (2 x (S + 1))."""
    bridge = {**copy.deepcopy(BRIDGE), "worker_replicas": replicas}
    if sockets:
        bridge["sockets_per_shard"] = sockets
    config = load_config({"bridge": bridge}, allow_example=True)
    assert config.shards_per_client == per_client


@pytest.mark.parametrize(("vcpu", "cpu", "memory", "processes"), [(0.5, 512, 1024, 1), (2, 2048, 4096, 2)])
def test_a_task_runs_a_writer_process_per_whole_vcpu(tmp_path, vcpu, cpu, memory, processes):
    """Given the task size, the task definition is a valid Fargate pair and the worker uses every vCPU: boto3's
    ~1 ms of CPU per put under the GIL caps one process near 1,000 puts/s (see the README's Benchmarks)."""
    config = {**copy.deepcopy(BRIDGE), "worker_vcpu": vcpu}
    _, template, _ = synth(config, tmp_path)
    task = next(iter(template.find_resources("AWS::ECS::TaskDefinition").values()))["Properties"]
    assert (task["Cpu"], task["Memory"]) == (str(cpu), str(memory))
    env = {e["Name"]: e["Value"] for e in task["ContainerDefinitions"][0]["Environment"]}
    assert env["WRITE_PROCESSES"] == str(processes)


def test_a_task_size_fargate_does_not_offer_is_refused_at_synth():
    with pytest.raises(ConfigError, match="Fargate runs tasks of"):
        load_config({"bridge": {**copy.deepcopy(BRIDGE), "worker_vcpu": 3}}, allow_example=True)


def test_the_auditor_is_told_the_schedules_own_time_and_may_write_its_verdicts(template):
    """EventBridge Scheduler replaces ``<aws.scheduler.scheduled-time>`` in a target's input with the time the
    schedule fired for, the same on each retry (EventBridge Scheduler User Guide, "Adding context attributes"):
    the auditor's windows come from it. Its verdicts go to the coverage table once each, so it may write there."""
    (schedule,) = [
        s
        for s in template.find_resources("AWS::Scheduler::Schedule").values()
        if "coverage ledger" in s["Properties"].get("Description", "")
    ]
    target = schedule["Properties"]["Target"]
    assert json.loads(target["Input"]) == {"scheduled_time": "<aws.scheduler.scheduled-time>"}
    auditor_policies = [
        statement
        for policy in template.find_resources("AWS::IAM::Policy").values()
        if any("Auditor" in str(role) for role in policy["Properties"].get("Roles", []))
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]
    actions = {a for s in auditor_policies for a in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])}
    assert {"dynamodb:PutItem", "dynamodb:Query"} <= actions
