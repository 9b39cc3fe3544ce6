"""Rules AWS enforces at deploy or run time that cfn-lint and cdk-nag cannot see, pinned with their sources."""

from __future__ import annotations

import copy
import json
import re
import shutil
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
from aws_cdk.assertions import Match

from infra.bundling import LAMBDA_PACKAGES, LAMBDA_REQUIREMENTS, PYTHON_VERSION, fingerprint
from infra.config import ConfigError, deployment_for, load_config
from tests.infra.conftest import BRIDGE, CONTEXT, ROOT

# Source: "Customize HTTP API access logs", Amazon API Gateway developer guide
# (https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-logging-variables.html).
# "*" stands for a property name. REST-only variables such as $context.resourcePath are absent on purpose:
# an HTTP API stage whose format names one fails to create.
HTTP_API_LOG_VARIABLES = {
    "accountId", "apiId", "authorizer.claims.*", "authorizer.error", "authorizer.*", "awsEndpointRequestId",
    "awsEndpointRequestId2", "customDomain.basePathMatched", "dataProcessed", "domainName", "domainPrefix",
    "error.message", "error.messageString", "error.responseType", "extendedRequestId", "httpMethod",
    "identity.accountId", "identity.caller", "identity.cognitoAuthenticationProvider",
    "identity.cognitoAuthenticationType", "identity.cognitoIdentityId", "identity.cognitoIdentityPoolId",
    "identity.principalOrgId", "identity.clientCert.clientCertPem", "identity.clientCert.subjectDN",
    "identity.clientCert.issuerDN", "identity.clientCert.serialNumber", "identity.clientCert.validity.notBefore",
    "identity.clientCert.validity.notAfter", "identity.sourceIp", "identity.user", "identity.userAgent",
    "identity.userArn", "integration.error", "integration.integrationStatus", "integration.latency",
    "integration.requestId", "integration.status", "integrationErrorMessage", "integrationLatency",
    "integrationStatus", "path", "protocol", "requestId", "requestTime", "requestTimeEpoch", "responseLatency",
    "responseLength", "routeKey", "stage", "status",
}  # fmt: skip


def documented(variable: str) -> bool:
    return any(
        variable == name
        or (name.endswith(".*") and variable.startswith(name[:-1]) and variable.count(".") == name.count("."))
        for name in HTTP_API_LOG_VARIABLES
    )


def resources(template: Any, kind: str) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = template.find_resources(kind)
    return found


def test_every_access_log_variable_is_an_http_api_variable(template):
    """Given the vend API's stage, every $context variable in its access-log format is one HTTP APIs have."""
    (stage,) = resources(template, "AWS::ApiGatewayV2::Stage").values()
    log_format = stage["Properties"]["AccessLogSettings"]["Format"]
    variables = re.findall(r"\$context\.([A-Za-z0-9_.]+)", log_format)
    assert variables, "the format logs something"
    assert [v for v in variables if not documented(v)] == []
    json.loads(log_format)  # one JSON object per request


def test_the_variable_check_catches_a_rest_api_variable():
    """Given the REST API variable that broke the first deploy, the check refuses it."""
    assert not documented("resourcePath")
    assert documented("authorizer.claims.sub")


def alarm_topic(template: Any) -> str:
    topics = resources(template, "AWS::SNS::Topic")
    (logical_id,) = topics
    return logical_id


def test_cloudwatch_alarms_may_publish_to_the_alarm_topic_and_only_this_accounts(template):
    """Given enforce_ssl's topic policy, CloudWatch is allowed to publish, scoped by source account and alarm ARN.

    Source: Amazon SNS developer guide, "Amazon SNS access policy" examples for CloudWatch alarms, and the IAM
    global condition keys aws:SourceAccount / aws:SourceArn (confused-deputy prevention).
    """
    topic = alarm_topic(template)
    (policy,) = resources(template, "AWS::SNS::TopicPolicy").values()
    assert policy["Properties"]["Topics"] == [{"Ref": topic}]
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    allows = [
        s
        for s in statements
        if s["Effect"] == "Allow" and s.get("Principal") == {"Service": "cloudwatch.amazonaws.com"}
    ]
    assert len(allows) == 1
    allow = allows[0]
    assert allow["Action"] == "sns:Publish"
    assert allow["Resource"] == {"Ref": topic}
    assert allow["Condition"]["StringEquals"]["aws:SourceAccount"] == {"Ref": "AWS::AccountId"}
    arn = json.dumps(allow["Condition"]["ArnLike"]["aws:SourceArn"])
    assert ":cloudwatch:" in arn and ":alarm:*" in arn
    denies = [s for s in statements if s["Effect"] == "Deny"]
    assert denies and all(s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}} for s in denies)


def test_every_alarm_action_targets_the_alarm_topic(template):
    """Given every alarm of the stack, its ALARM and OK actions go to the one topic the policy lets CloudWatch use."""
    topic = alarm_topic(template)
    alarms = resources(template, "AWS::CloudWatch::Alarm")
    assert len(alarms) > 5
    for name, alarm in alarms.items():
        actions = alarm["Properties"].get("AlarmActions", []) + alarm["Properties"].get("OKActions", [])
        assert actions == [{"Ref": topic}, {"Ref": topic}], name


def test_the_alarm_key_lets_cloudwatch_encrypt_for_the_topic(template):
    """Given a KMS-encrypted topic, CloudWatch may use the key (else the publish fails after the policy allows it)."""
    keys = resources(template, "AWS::KMS::Key")
    statements = [s for k in keys.values() for s in k["Properties"]["KeyPolicy"]["Statement"]]
    cloudwatch = [s for s in statements if s.get("Principal") == {"Service": "cloudwatch.amazonaws.com"}]
    assert cloudwatch and {"kms:Decrypt", "kms:GenerateDataKey*"} <= set(cloudwatch[0]["Action"])


def test_the_minter_has_an_errors_alarm_and_an_async_failure_destination(template):
    """Given the scheduler's asynchronous invocations, a failed one lands in the DLQ and function errors page."""
    (config,) = resources(template, "AWS::Lambda::EventInvokeConfig").values()
    assert "OnFailure" in config["Properties"]["DestinationConfig"]
    template.has_resource_properties(
        "AWS::CloudWatch::Alarm", {"MetricName": "Errors", "Namespace": "AWS/Lambda", "Threshold": 0}
    )


def test_token_remaining_tolerates_one_late_scheduler_run(template):
    """Given the TokenRemaining alarm, two of three periods must breach before it pages."""
    template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {"MetricName": "TokenRemainingSeconds", "EvaluationPeriods": 3, "DatapointsToAlarm": 2},
    )


def test_indexes_carry_only_what_the_listing_reads(template):
    """Given the events table, no index projects ALL: the envelope is stored once, in the base table."""
    (events,) = [
        t for t in resources(template, "AWS::DynamoDB::Table").values() if "GlobalSecondaryIndexes" in t["Properties"]
    ]
    for index in events["Properties"]["GlobalSecondaryIndexes"]:
        assert index["Projection"]["ProjectionType"] == "INCLUDE"
        assert "envelope" not in index["Projection"]["NonKeyAttributes"]
        assert {"kind", "channel_id"} <= set(index["Projection"]["NonKeyAttributes"])


def test_the_payload_bucket_expires_noncurrent_versions(template):
    template.has_resource_properties(
        "AWS::S3::Bucket",
        {
            "VersioningConfiguration": {"Status": "Enabled"},
            "LifecycleConfiguration": {
                "Rules": Match.array_with([Match.object_like({"NoncurrentVersionExpiration": {"NoncurrentDays": 30}})])
            },
        },
    )


def task_role_statements(template: Any) -> list[dict[str, Any]]:
    policies = resources(template, "AWS::IAM::Policy")
    return [
        s
        for name, p in policies.items()
        if name.startswith("StreamWorkerGroup") and "TaskTaskRole" in name
        for s in p["Properties"]["PolicyDocument"]["Statement"]
    ]


def test_the_worker_uses_its_key_only_through_dynamodb_and_s3_and_puts_no_metrics(template):
    """Given the task role, KMS use is scoped by kms:ViaService and there is no cloudwatch:PutMetricData (EMF)."""
    statements = task_role_statements(template)
    assert statements
    actions = [a for s in statements for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])]
    assert not [a for a in actions if a.startswith("cloudwatch:")]
    kms = [
        s
        for s in statements
        if any(str(a).startswith("kms:") for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"]))
    ]
    assert kms
    for statement in kms:
        services = json.dumps(statement["Condition"]["StringEquals"]["kms:ViaService"])
        assert "dynamodb." in services and "s3." in services


def test_outputs_name_everything_the_deploy_steps_use(template):
    outputs = template.to_json()["Outputs"]
    for name in ("MinterFunction", "AlarmTopic", "Cluster", "WorkerServiceAcme", "WorkerServiceBeta", "EventsTable"):
        assert name in outputs, name
    assert {
        "CredentialsSecretAcme",
        "CredentialsSecretBeta",
        "TokenSecretAcme",
        "TokenSecretBeta",
        "SamlSecretAcme",
    } <= set(outputs)


@pytest.mark.parametrize(("replicas", "minimum", "maximum", "tasks"), [(1, 100, 200, 2), (2, 50, 100, 2)])
def test_deploys_never_drop_coverage_to_zero_nor_exceed_the_budget(replicas, minimum, maximum, tasks):
    """Given N replicas, at least one task streams at every moment of a deploy, and at most ``tasks`` exist."""
    deployment = deployment_for(replicas)
    assert (deployment.min_healthy_percent, deployment.max_healthy_percent, deployment.max_tasks) == (
        minimum,
        maximum,
        tasks,
    )
    assert replicas * minimum / 100 >= 1  # ECS keeps at least this many running: coverage never drops to zero
    assert -(-replicas * maximum // 100) == tasks  # ECS rounds the maximum up


def test_example_values_are_refused_unless_asked_for():
    """Given the shipped example (example.com issuer and e-mail), synth refuses it without -c allow_example=true."""
    with pytest.raises(ConfigError, match=r"bridge.idp.issuer, bridge.alarm_email still hold example values"):
        load_config({"bridge": CONTEXT["bridge"]})
    assert load_config({"bridge": CONTEXT["bridge"]}, allow_example=True)
    real = copy.deepcopy(BRIDGE) | {
        "alarm_email": "oncall@acme.io",
        "idp": {"issuer": "https://acme.okta.com/oauth2/default", "audience": ["a"]},
    }
    assert load_config({"bridge": real})


def copy_tree(tmp_path: Path) -> Path:
    root = tmp_path / "src"
    for package in LAMBDA_PACKAGES:
        shutil.copytree(ROOT / package, root / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "constraints.txt", root / "constraints.txt")
    return root


def test_the_lambda_fingerprint_follows_pins_requirements_runtime_and_code(tmp_path):
    """Given the bundle's inputs, changing any one of them gives a new asset hash (so it is deployed)."""
    root = copy_tree(tmp_path)
    base = fingerprint(root)
    assert fingerprint(root) == base  # stable
    (root / "constraints.txt").write_text((root / "constraints.txt").read_text().replace("boto3==", "boto3==0"))
    pinned = fingerprint(root)
    assert pinned != base
    assert fingerprint(root, requirements=(*LAMBDA_REQUIREMENTS, "orjson")) != pinned
    assert fingerprint(root, python_version="3.12") != pinned
    (root / "evidence" / "frames.py").write_text((root / "evidence" / "frames.py").read_text() + "\n# changed\n")
    assert fingerprint(root) != pinned
    (root / "genesys" / "__pycache__").mkdir(exist_ok=True)
    before = fingerprint(root)
    (root / "genesys" / "__pycache__" / "x.cpython-311.pyc").write_bytes(b"stale")
    assert fingerprint(root) == before  # compiled leftovers never change (or enter) the bundle


def test_boto3_is_bundled_with_the_botocore_it_was_pinned_with():
    assert {"boto3", "botocore"} <= set(LAMBDA_REQUIREMENTS)


def test_one_python_version_for_lambda_the_container_and_the_tests(template):
    """Given .python-version, the Lambda runtime, the image's base, ruff, mypy and this interpreter all agree."""
    major_minor = PYTHON_VERSION
    functions = [
        f
        for f in resources(template, "AWS::Lambda::Function").values()
        if str(f["Properties"].get("Runtime", "")).startswith("python")
    ]
    assert {f["Properties"]["Runtime"] for f in functions} == {f"python{major_minor}"}
    dockerfile = (ROOT / "stream_worker" / "Dockerfile").read_text()
    assert "FROM public.ecr.aws/docker/library/python:${PYTHON_VERSION}-slim" in dockerfile
    assert re.search(r"^ARG PYTHON_VERSION$", dockerfile, re.M)  # no default: CDK passes .python-version
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert pyproject["tool"]["ruff"]["target-version"] == "py" + major_minor.replace(".", "")
    assert pyproject["tool"]["mypy"]["python_version"] == major_minor
    assert f"{sys.version_info.major}.{sys.version_info.minor}" == major_minor


PROJECT_PACKAGES = ("genesys", "evidence", "functions", "stream_worker")
WORKER_PACKAGES = ("genesys", "evidence", "stream_worker")


def _project_imports(packages: tuple[str, ...]) -> set[str]:
    from tests.unit.test_architecture import imports

    return {
        name.split(".")[0]
        for package in packages
        for path in (ROOT / package).rglob("*.py")
        for name in imports(path)
        if name.split(".")[0] in PROJECT_PACKAGES
    }


def test_the_image_and_the_lambda_bundle_carry_every_project_package_their_code_imports():
    """Given the runtime packages' imports of each other, the Dockerfile copies (and .dockerignore lets through)
    every package the worker imports, and the Lambda bundle every package the functions import: a missing one
    fails at the first import in AWS, never locally."""
    dockerfile = (ROOT / "stream_worker" / "Dockerfile").read_text()
    copied = set(re.findall(r"^COPY (\w+)/ \./\1/$", dockerfile, re.M))
    admitted = set(re.findall(r"^!(\w+)/$", (ROOT / ".dockerignore").read_text(), re.M))
    assert _project_imports(WORKER_PACKAGES) <= copied & admitted
    assert _project_imports(("functions",)) <= set(LAMBDA_PACKAGES)


def _runtime_distributions(packages: tuple[str, ...]) -> set[str]:
    """Distributions the packages import at run time (not under TYPE_CHECKING), by their installed names."""
    import ast
    from importlib.metadata import packages_distributions

    owners = packages_distributions()
    found: set[str] = set()
    for package in packages:
        for path in (ROOT / package).rglob("*.py"):
            tree = ast.parse(path.read_text())
            typing_only = {
                id(node)
                for block in ast.walk(tree)
                if isinstance(block, ast.If) and "TYPE_CHECKING" in ast.unparse(block.test)
                for node in ast.walk(block)
            }
            for node in ast.walk(tree):
                if id(node) in typing_only or not isinstance(node, ast.Import | ast.ImportFrom):
                    continue
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
                for name in names:
                    top = name.split(".")[0]
                    if (node.__class__ is ast.ImportFrom and node.level) or top in sys.stdlib_module_names:
                        continue
                    if top in packages or top in (*PROJECT_PACKAGES, ""):
                        continue
                    found.update(d.lower().replace("_", "-") for d in owners.get(top, [top]))
    return found


def test_the_image_and_the_lambda_bundle_install_every_package_their_code_imports():
    """Given the runtime code's imports, each third-party package is installed by the Dockerfile (worker) or
    bundled (functions): a missing one fails at the first import in AWS, never locally, where the venv has it."""
    normalise = lambda names: {n.lower().replace("_", "-") for n in names}  # noqa: E731
    image_line = re.search(
        r"pip install [^\n]*-c constraints.txt ([^\\\n]+)", (ROOT / "stream_worker" / "Dockerfile").read_text()
    )
    assert image_line
    image = normalise(image_line.group(1).split())
    assert _runtime_distributions(WORKER_PACKAGES) <= image
    assert _runtime_distributions(LAMBDA_PACKAGES) <= normalise(LAMBDA_REQUIREMENTS)


def test_writers_may_update_only_the_arrivals_of_a_stored_event(template):
    """An event writer's UpdateItem is limited by ``dynamodb:Attributes`` ("the list of top-level attribute names
    accessible by a request", Amazon DynamoDB Developer Guide, "Using IAM policy conditions for fine-grained
    access control") to the key and the per-path arrival sets: recording a copy's arrival is the one change a
    writer can make to a stored event, and it can neither edit an envelope nor delete an item."""
    statements = [
        statement
        for policy in resources(template, "AWS::IAM::Policy").values()
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]
    updates = [s for s in statements if "dynamodb:UpdateItem" in json.dumps(s["Action"])]
    assert updates
    for statement in updates:
        assert statement["Action"] == "dynamodb:UpdateItem"
        allowed = statement["Condition"]["ForAllValues:StringEquals"]["dynamodb:Attributes"]
        assert sorted(allowed) == ["arrivals_eventbridge", "arrivals_websocket", "pk"]
    assert not [s for s in statements if "dynamodb:DeleteItem" in json.dumps(s["Action"])]
