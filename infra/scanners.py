"""What two scanners nobody here wrote say of the template, answered: fixed where a fix is right, else acknowledged
on the resource with the reason, as cdk-nag's findings are (infra/nag.py).

- checkov (CloudFormation framework) reads ``Metadata.checkov.skip`` (``id``, ``comment``) on a resource;
- cfn-lint, with AWS's serverless rules (``cfn-lint-serverless``), reads ``Metadata.cfn-lint.config.ignore_checks``;
  the reasons sit beside them in ``Metadata.acknowledged``, for whoever reads the template.

Every log group is encrypted with the project's key (an aspect, so a new one cannot be missed): worker and consumer
logs can hold excerpts of frames.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import jsii
from aws_cdk import Aspects, CfnResource, IAspect, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from constructs import IConstruct

if TYPE_CHECKING:
    from infra.stack import GenesysBridgeStack

# checkov check -> why it does not apply here, per resource type
CHECKOV: dict[str, dict[str, str]] = {
    "AWS::Lambda::Function": {
        "CKV_AWS_117": "No VPC: the functions call AWS APIs and Genesys over HTTPS and serve nothing inbound; a VPC "
        "would need a NAT gateway or endpoints for each service without adding a control.",
        "CKV_AWS_173": "The environment holds names only (tables, buckets, secret names, topics), never a secret or "
        "token; Lambda encrypts it at rest with its service key.",
        "CKV_AWS_116": "A function DLQ serves asynchronous invocations only: the scheduled functions have the "
        "scheduler target's DLQ, the vend function is invoked synchronously by API Gateway, stream and queue "
        "consumers have their event source's on-failure destination or redrive, and CDK's custom resource handler "
        "is invoked synchronously by CloudFormation.",
        "CKV_AWS_115": "The vend API is throttled at its stage (rate and burst limits); a reservation would take "
        "from the account's pool. CDK's custom resource handler runs once per deploy.",
    },
    "AWS::SecretsManager::Secret": {
        "CKV_AWS_149": "Encrypted with Secrets Manager's AWS-managed key; who may read a secret is decided by IAM on "
        "the secret (only the minter reads credentials, workers read tokens), which a customer key would repeat.",
    },
    "AWS::SQS::Queue": {
        "CKV_AWS_27": "SSE-SQS is on (SqsManagedSseEnabled); the check reads only KmsMasterKeyId. The queues hold "
        "failed invocation records, not events.",
    },
    "AWS::S3::Bucket": {
        "CKV_AWS_18": "This is the access-log bucket itself: logging it into itself would log its own log writes.",
    },
}
# cfn-lint rule -> why, per resource type
CFN_LINT: dict[str, dict[str, str]] = {
    "AWS::Lambda::Function": {
        "WS1004": "Each function of the project logs to its own log group with a retention, named through "
        "LoggingConfig (infra/bundling.py); the rule looks only for a group named /aws/lambda/<function>. CDK's "
        "custom resource handler runs once per deploy.",
    },
    "AWS::SQS::Queue": {
        "ES6000": "This queue is itself a dead-letter queue or on-failure destination: there is nowhere further to "
        "redrive to; its alarm pages instead.",
    },
    "AWS::Lambda::EventSourceMapping": {
        "ES1001": "An SQS event source: Lambda takes no on-failure destination for SQS (only for streams and Kafka); "
        "the queue's redrive policy moves a message to its dead-letter queue after five receives.",
    },
    "AWS::SNS::Subscription": {
        "ES7000": "An email subscription: SNS retries delivery by its policy and counts NumberOfNotificationsFailed; "
        "the alarms also reach the console.",
    },
}
CDK_INTERNAL = {"WS1000": "CDK's own custom resource handler (restricting the VPC's default security group) runs "
                "once per deploy; its code and settings are CDK's."}  # fmt: skip


@jsii.implements(IAspect)
class EncryptLogGroups:
    """Every log group of the stack encrypted with ``key`` (KMS Developer Guide / CloudWatch Logs User Guide,
    "Encrypt log data in CloudWatch Logs using AWS KMS": the key policy lets the logs service use it, scoped by
    the ``kms:EncryptionContext:aws:logs:arn`` of this account's log groups)."""

    def __init__(self, key: kms.IKey) -> None:
        self._key = key

    def visit(self, node: IConstruct) -> None:
        if isinstance(node, logs.CfnLogGroup):
            node.kms_key_id = self._key.key_arn


def encrypt_logs(stack: Stack, key: kms.Key) -> None:
    key.add_to_resource_policy(
        iam.PolicyStatement(
            sid="CloudWatchLogsEncrypts",
            principals=[iam.ServicePrincipal(f"logs.{stack.region}.amazonaws.com")],
            actions=["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"],
            resources=["*"],
            conditions={
                "ArnLike": {
                    "kms:EncryptionContext:aws:logs:arn": f"arn:{stack.partition}:logs:{stack.region}:{stack.account}:log-group:*"
                }
            },
        )
    )
    Aspects.of(stack).add(EncryptLogGroups(key))


def _resources(stack: GenesysBridgeStack) -> list[CfnResource]:
    return [c for c in stack.node.find_all() if isinstance(c, CfnResource)]


def acknowledge_scanners(stack: GenesysBridgeStack) -> None:
    access_logs = stack.store.access_logs.node.default_child.node.path  # type: ignore[union-attr]
    for resource in _resources(stack):
        kind = resource.cfn_resource_type
        checkov = dict(CHECKOV.get(kind, {}))
        if kind == "AWS::S3::Bucket" and resource.node.path != access_logs:
            checkov = {}
        if kind == "AWS::Lambda::Function" and not _unreserved(resource):
            checkov.pop("CKV_AWS_115", None)
        lint = dict(CFN_LINT.get(kind, {}))
        if kind == "AWS::Lambda::EventSourceMapping" and getattr(resource, "destination_config", None) is not None:
            lint = {}  # the streams' mappings have their on-failure destination: nothing to acknowledge
        if kind == "AWS::Lambda::Function" and "CustomResourceProvider" in resource.node.path:
            lint.update(CDK_INTERNAL)
        if checkov:
            resource.add_metadata("checkov", {"skip": [{"id": i, "comment": c} for i, c in sorted(checkov.items())]})
        if lint:
            resource.add_metadata("cfn-lint", {"config": {"ignore_checks": sorted(lint)}})
        if checkov or lint:
            resource.add_metadata("acknowledged", {**checkov, **lint})


def _unreserved(resource: CfnResource) -> bool:
    """A function without a reserved concurrency (CDK's raw custom resource handler has no such property)."""
    return getattr(resource, "reserved_concurrent_executions", None) is None
