"""The CDK app, synthesized without AWS or Docker: properties pinned, cdk-nag clean, cfn-lint clean."""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
from typing import Any

import pytest
from aws_cdk.assertions import Capture, Match, Template

from infra.bundling import PYTHON_VERSION
from infra.config import ConfigError, load_config
from tests.infra.conftest import BRIDGE, ROOT, cfn_lint, synth


def test_events_table_is_on_demand_recoverable_protected_encrypted_and_retained(template):
    template.has_resource(
        "AWS::DynamoDB::Table",
        {
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain",
            "Properties": Match.object_like(
                {
                    "BillingMode": "PAY_PER_REQUEST",
                    "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
                    "DeletionProtectionEnabled": True,
                    "SSESpecification": {"SSEEnabled": True, "SSEType": "KMS", "KMSMasterKeyId": Match.any_value()},
                    "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
                    "GlobalSecondaryIndexes": Match.array_with(
                        [
                            Match.object_like(
                                {
                                    "IndexName": "by_entity",
                                    "KeySchema": [
                                        {"AttributeName": "entity", "KeyType": "HASH"},
                                        {"AttributeName": "received_ms", "KeyType": "RANGE"},
                                    ],
                                }
                            ),
                            Match.object_like(
                                {
                                    "IndexName": "by_time",
                                    "KeySchema": [
                                        {"AttributeName": "time_bucket", "KeyType": "HASH"},
                                        {"AttributeName": "received_ms", "KeyType": "RANGE"},
                                    ],
                                }
                            ),
                        ]
                    ),
                }
            ),
        },
    )
    template.has_resource_properties("AWS::KMS::Key", {"EnableKeyRotation": True})


def test_ttl_is_off_unless_configured(template, tmp_path):
    for table in template.find_resources("AWS::DynamoDB::Table").values():
        assert "TimeToLiveSpecification" not in table["Properties"]
    _, with_ttl, _ = synth({**BRIDGE, "event_ttl_days": 400}, tmp_path)
    with_ttl.has_resource_properties(
        "AWS::DynamoDB::Table", {"TimeToLiveSpecification": {"AttributeName": "expires_at", "Enabled": True}}
    )


def test_secrets_hold_no_values_in_the_template(synthesized):
    _, template, _ = synthesized
    secrets = template.find_resources("AWS::SecretsManager::Secret")
    names = {s["Properties"]["Name"] for s in secrets.values()}
    # acme's credentials are created (placeholder), beta's are imported by name; both have token secrets
    assert names == {
        "genesys-bridge/acme/client-credentials",
        "genesys-bridge/acme/token",
        "genesys-bridge/acme/saml-client",
        "genesys-bridge/beta/token",
    }
    for secret in secrets.values():
        assert "SecretString" not in secret["Properties"]
        assert "GenerateSecretString" in secret["Properties"]
        assert secret["DeletionPolicy"] == "Retain"


def test_mint_function_is_current_arm64_single_and_logged(template):
    template.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "Handler": "functions.mint_token.handler.handler",
            "Runtime": f"python{PYTHON_VERSION}",
            "Architectures": ["arm64"],
            "ReservedConcurrentExecutions": 1,
            "TracingConfig": {"Mode": "Active"},
            "LoggingConfig": {"LogGroup": Match.any_value()},
            "Environment": {
                "Variables": Match.object_like({"SCHEDULE_PERIOD_SECONDS": "300", "ROTATION_LEAD_SECONDS": "1200"})
            },
        },
    )
    template.has_resource_properties("AWS::Logs::LogGroup", {"RetentionInDays": 365})


def test_mint_schedule_has_retries_a_dead_letter_queue_and_the_slot_time(template):
    target = Capture()
    template.has_resource_properties(
        "AWS::Scheduler::Schedule",
        {"ScheduleExpression": "rate(5 minutes)", "State": "ENABLED", "Target": target},
    )
    assert target.as_object()["RetryPolicy"] == {"MaximumEventAgeInSeconds": 300, "MaximumRetryAttempts": 2}
    assert "DeadLetterConfig" in target.as_object()
    assert json.loads(target.as_object()["Input"]) == {"scheduled_time": "<aws.scheduler.scheduled-time>"}
    template.has_resource_properties("AWS::SQS::Queue", {"SqsManagedSseEnabled": True})


def test_vend_api_uses_the_idp_jwt_authorizer_throttling_and_access_logs(template):
    template.has_resource_properties(
        "AWS::ApiGatewayV2::Authorizer",
        {
            "AuthorizerType": "JWT",
            "JwtConfiguration": {"Issuer": BRIDGE["idp"]["issuer"], "Audience": BRIDGE["idp"]["audience"]},
        },
    )
    template.has_resource_properties(
        "AWS::ApiGatewayV2::Stage",
        {
            "StageName": "$default",
            "AutoDeploy": True,
            "DefaultRouteSettings": {"ThrottlingRateLimit": 100, "ThrottlingBurstLimit": 200},
            "AccessLogSettings": {"DestinationArn": Match.any_value(), "Format": Match.string_like_regexp("requestId")},
        },
    )
    routes = {
        r["Properties"]["RouteKey"]: r["Properties"]
        for r in template.find_resources("AWS::ApiGatewayV2::Route").values()
    }
    assert set(routes) == {"GET /orgs/{org}/token", "POST /orgs/{org}/saml-token"}
    assert all(r["AuthorizationType"] == "JWT" for r in routes.values())


def test_worker_service_replaces_half_at_a_time_and_rolls_back(template):
    """Given two replicas, a deploy never runs more than two tasks (the channel budget) and never fewer than one."""
    template.has_resource_properties(
        "AWS::ECS::Service",
        {
            "DesiredCount": 2,
            "LaunchType": "FARGATE",
            "DeploymentConfiguration": {
                "MinimumHealthyPercent": 50,
                "MaximumPercent": 100,
                "DeploymentCircuitBreaker": {"Enable": True, "Rollback": True},
            },
        },
    )


def test_worker_task_is_arm64_health_checked_and_stops_gracefully(template):
    template.has_resource_properties(
        "AWS::ECS::TaskDefinition",
        {
            "RuntimePlatform": {"CpuArchitecture": "ARM64", "OperatingSystemFamily": "LINUX"},
            "ContainerDefinitions": [
                Match.object_like(
                    {
                        "StopTimeout": 120,
                        "HealthCheck": Match.object_like({"Command": ["CMD", "python", "-m", "stream_worker.health"]}),
                        "LogConfiguration": Match.object_like({"LogDriver": "awslogs"}),
                    }
                )
            ],
        },
    )


def test_worker_accepts_nothing_inbound(template):
    groups = [g["Properties"] for g in template.find_resources("AWS::EC2::SecurityGroup").values()]
    worker = [g for g in groups if "egress only" in g["GroupDescription"]]
    assert len(worker) == 1
    assert "SecurityGroupIngress" not in worker[0]
    assert template.find_resources("AWS::EC2::SecurityGroupIngress") == {}


def _policy_statements(template: Template, role_fragment: str) -> list[dict[str, Any]]:
    statements: list[dict[str, Any]] = []
    for policy in template.find_resources("AWS::IAM::Policy").values():
        roles = json.dumps(policy["Properties"]["Roles"])
        if role_fragment in roles:
            statements.extend(policy["Properties"]["PolicyDocument"]["Statement"])
    return statements


def test_worker_reads_token_secrets_but_never_client_credentials(synthesized):
    _, template, _ = synthesized
    statements = _policy_statements(template, "StreamWorkerGroupacmeTaskTaskRole")
    text = json.dumps(statements)
    assert "Token" in text
    assert "Credentials" not in text and "client-credentials" not in text and "Saml" not in text
    actions = {a for s in statements for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])}
    assert "dynamodb:PutItem" in actions
    assert not any(a.startswith(("dynamodb:Delete", "s3:Delete")) for a in actions)


def test_only_the_minter_reads_client_credentials(template):
    vendor = json.dumps(_policy_statements(template, "TokenServiceVendor"))
    assert "Credentials" not in vendor
    assert "Saml" in vendor
    minter = json.dumps(_policy_statements(template, "TokenServiceMinter"))
    assert "Credentials" in minter and "secretsmanager:PutSecretValue" in minter


def test_alarms_cover_tokens_coverage_writes_dlq_vend_and_tasks(template):
    alarms = [a["Properties"] for a in template.find_resources("AWS::CloudWatch::Alarm").values()]
    by_metric: dict[str, list[dict[str, Any]]] = {}
    for alarm in alarms:
        by_metric.setdefault(alarm.get("MetricName", "?"), []).append(alarm)
        assert alarm["AlarmActions"] and alarm["OKActions"]
    # one per org, one per shard (acme has 1500 topics -> 2 shards; beta 1)
    assert len(by_metric["TokenRemainingSeconds"]) == 2
    assert {a["TreatMissingData"] for a in by_metric["TokenRemainingSeconds"] + by_metric["TokenMintFailed"]} == {
        "breaching"
    }
    assert {a["Threshold"] for a in by_metric["TokenRemainingSeconds"]} == {1200}
    # shard alarms are on the fleet's metrics (the auditor's), never on one task's view
    assert "UncoveredSeconds" not in by_metric and "LiveSockets" not in by_metric
    assert len(by_metric["FleetUncoveredSeconds"]) == 3
    assert {
        (a["ComparisonOperator"], a["Threshold"], a["TreatMissingData"]) for a in by_metric["FleetUncoveredSeconds"]
    } == {("GreaterThanThreshold", 0, "breaching")}
    assert {(a["ComparisonOperator"], a["Threshold"], a["TreatMissingData"]) for a in by_metric["FleetLiveTasks"]} == {
        ("LessThanThreshold", 2, "breaching")
    }
    shards = {d["Value"] for a in by_metric["FleetLiveTasks"] for d in a["Dimensions"] if d["Name"] == "shard"}
    assert shards == {"acme:0", "acme:1", "beta:0"}
    for metric in ("WriteErrors", "WriteThrottleEvents", "ApproximateNumberOfMessagesVisible", "5xx"):
        assert by_metric[metric][0]["TreatMissingData"] == "notBreaching", metric
    assert [a["Threshold"] for a in by_metric["RunningTaskCount"]] == [2, 2]  # one per group: acme, beta
    template.has_resource_properties("AWS::SNS::Subscription", {"Protocol": "email", "Endpoint": "oncall@example.com"})
    template.resource_count_is("AWS::CloudWatch::Dashboard", 1)


def test_synthesized_template_passes_cfn_lint(synthesized):
    _, _, path = synthesized
    cfn_lint(path)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"orgs": [{"name": "x", "region": "mypurecloud.xx", "topics": ["v2.users.a.presence"]}]},
            "unknown Genesys region",
        ),
        (
            {
                "worker_replicas": 2,
                "sockets_per_shard": 2,
                "orgs": [
                    {
                        "name": "wide",
                        "region": "mypurecloud.ie",
                        "templates": [{"template": "v2.users.{id}.presence", "ids": [str(i) for i in range(3500)]}],
                    }
                ],
            },
            "4 shard.s.* one OAuth client carries 3 shard.s. .* the topics need 2 OAuth clients: list 2 in clients",
        ),
        ({"alarm_email": "not-an-email"}, "bridge.alarm_email"),
        ({"access_policy": {"rules": []}}, "ACCESS_POLICY is invalid"),
        ({"idp": {"issuer": "http://insecure", "audience": ["a"]}}, "bridge.idp.issuer"),
        (
            {
                "orgs": [
                    {
                        "name": "big",
                        "region": "mypurecloud.ie",
                        "templates": [{"template": "v2.users.{id}.presence", "ids": [str(i) for i in range(6000)]}],
                    }
                ]
            },
            "6 shard.s. .* the topics need 2 OAuth clients",
        ),
    ],
)
def test_bad_configuration_is_a_clear_error_at_synth(change, message):
    bridge = copy.deepcopy(BRIDGE) | change
    with pytest.raises(ConfigError, match=message):
        load_config({"bridge": bridge}, allow_example=True)


def test_missing_configuration_names_the_context_key():
    with pytest.raises(ConfigError, match='no "bridge" object'):
        load_config({})


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("npx") is None, reason="needs Node.js")
def test_cdk_cli_synth_needs_no_aws_account_and_no_docker(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update({"DOCKER_HOST": "unix:///nonexistent.sock", "CDK_DISABLE_VERSION_CHECK": "1"})
    result = subprocess.run(
        [
            "npx",
            "--yes",
            "aws-cdk@2",
            "synth",
            "--quiet",
            "-c",
            "allow_example=true",
            "--output",
            str(tmp_path / "out"),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    template = json.loads((tmp_path / "out" / "GenesysNotificationBridge.template.json").read_text())
    assert any(r["Type"] == "AWS::ECS::Service" for r in template["Resources"].values())
    bundles = [
        p for p in (tmp_path / "out").glob("asset.*") if (p / "functions" / "mint_token" / "handler.py").exists()
    ]
    assert bundles, "the Lambda bundle holds the functions package"
    assert any((b / "pydantic_core").exists() for b in bundles)
    assert any(p.name.endswith("aarch64-linux-gnu.so") for b in bundles for p in (b / "pydantic_core").glob("*.so"))
    # boto3 and botocore come from the pinned set, not the runtime; no compiled leftovers of the synth machine
    assert all((b / "boto3").is_dir() and (b / "botocore").is_dir() for b in bundles)
    assert not [p for b in bundles for p in b.rglob("*.pyc")]


def documented_alarms() -> list[str]:
    """The alarm column of docs/operations.md's alarm table."""
    text = (ROOT / "docs" / "operations.md").read_text()
    table = text[text.index("## Alarms and what to do") :]
    return [line.split("|")[1].strip() for line in table.splitlines() if line.startswith("| ") and "---" not in line][
        1:
    ]


def test_every_alarm_has_its_stable_name_and_a_row_in_the_operations_guide(tmp_path):
    """Given a stack with the EventBridge path on, every alarm is named ``<stack>-<alarm>``, as the operations guide
    names it, matches one row of the guide's table, and every row names an alarm the stack has."""
    import re

    from tests.infra.test_eventbridge import WITH_EVENTBRIDGE

    stack, template, _ = synth(WITH_EVENTBRIDGE, tmp_path)
    names = [a["Properties"]["AlarmName"] for a in template.find_resources("AWS::CloudWatch::Alarm").values()]
    prefix = f"{stack.stack_name}-"
    assert names and all(n.startswith(prefix) for n in names)
    rows = documented_alarms()
    patterns = {
        row: re.compile(
            "^" + re.sub(r"<[a-z]+>", "[^ ]+", re.escape(row).replace(r"\<", "<").replace(r"\>", ">")) + "$"
        )
        for row in rows
    }
    unmatched = [n for n in names if not any(p.match(n.removeprefix(prefix)) for p in patterns.values())]
    assert not unmatched
    unused = [row for row, p in patterns.items() if not any(p.match(n.removeprefix(prefix)) for n in names)]
    assert not unused
