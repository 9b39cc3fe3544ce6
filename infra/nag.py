"""cdk-nag AwsSolutions acknowledgements, each on the narrowest construct, each with its reason."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aws_cdk import Acknowledgment, Validations
from constructs import IConstruct

from infra.bundling import PYTHON_VERSION

if TYPE_CHECKING:
    from infra.stack import GenesysBridgeStack

XRAY = "X-Ray PutTraceSegments/PutTelemetryRecords have no resource type and require Resource *."
BASIC_EXECUTION = "AWSLambdaBasicExecutionRole only allows writing the function's own CloudWatch logs; a copy of it would add nothing."


def _ack(construct: IConstruct, rule: str, reason: str) -> None:
    Validations.of(construct).acknowledge(Acknowledgment(id=f"AwsSolutions::{rule}", reason=reason))


def acknowledgements(stack: GenesysBridgeStack) -> list[tuple[IConstruct, str, str]]:
    tokens, worker = stack.tokens, stack.worker
    found: list[tuple[IConstruct, str, str]] = []
    consumers = [path.consumer for path in stack.eventbridge.values()]
    archiver = [stack.archive.function] if stack.archive else []
    repair = stack.repair.function
    for function in (tokens.minter, tokens.vendor, stack.auditor.function, repair, *consumers, *archiver):
        found.append(
            (
                function,
                "AwsSolutions-L1",
                f"The runtime is the project's one Python version ({PYTHON_VERSION}, named in .python-version): the "
                "version the tests and the worker container run, so what is deployed is what was tested. A supported "
                "Lambda runtime; it moves with the project's version, not on its own.",
            )
        )
        role = function.role
        assert role is not None
        found.append(
            (
                role,
                "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]",
                BASIC_EXECUTION,
            )
        )
        found.append((role, "AwsSolutions-IAM5[Resource::*]", XRAY))
    for secret in [*tokens.token_secrets.values(), *tokens.credentials_secrets.values(), *tokens.saml_secrets.values()]:
        found.append(
            (
                secret,
                "AwsSolutions-SMG4",
                "Token secrets are rewritten by the scheduled minter before each token reaches its refresh threshold; OAuth "
                "client secrets are issued by Genesys Cloud, which offers no API a Secrets Manager rotation function "
                "could call to rotate them.",
            )
        )
    found.append((tokens.dead_letters, "AwsSolutions-SQS3", "This queue is itself the scheduler's dead-letter queue."))
    for path in stack.eventbridge.values():
        found.append((path.dead_letters, "AwsSolutions-SQS3", "This queue is itself the EventBridge path's DLQ."))
    scheduled = [tokens.minter, stack.auditor.function, repair]
    invoked = [stack.get_logical_id(f.node.default_child) for f in scheduled]  # type: ignore[arg-type]
    for child in stack.node.children:
        if child.node.id.startswith("SchedulerRoleForTarget"):
            for logical_id in invoked:
                found.append(
                    (
                        child,
                        f"AwsSolutions-IAM5[Resource::<{logical_id}.Arn>:*]",
                        "Made by the scheduler target construct: lambda:InvokeFunction on one scheduled function and "
                        "its versions only.",
                    )
                )
    coverage = stack.get_logical_id(stack.store.coverage.node.default_child)  # type: ignore[arg-type]
    events = stack.get_logical_id(stack.store.events.node.default_child)  # type: ignore[arg-type]
    for function in (stack.auditor.function, repair):
        assert function.role is not None
        found.append(
            (
                function.role,
                f"AwsSolutions-IAM5[Resource::<{coverage}.Arn>/index/*]",
                "Added by the table's grant_read_data; the coverage table has no index, so it matches nothing.",
            )
        )
    assert stack.auditor.function.role is not None
    found.append(
        (
            stack.auditor.function.role,
            f"AwsSolutions-IAM5[Resource::<{events}.Arn>/index/*]",
            "Read of the events table's time index: a gap's EventBridge deliveries classify it.",
        )
    )
    payloads = stack.get_logical_id(stack.store.payloads.node.default_child)  # type: ignore[arg-type]
    for consumer in consumers:
        assert consumer.role is not None
        found.append(
            (
                consumer.role,
                f"AwsSolutions-IAM5[Resource::<{payloads}.Arn>/envelopes/*]",
                "s3:PutObject only, under the envelopes/ prefix: one object per oversized envelope, keyed by its "
                "event key.",
            )
        )
    if stack.archive is not None:
        found += _archive(stack, payloads)
    for group in worker.groups.values():
        execution_role = group.task.execution_role
        assert execution_role is not None
        found.append(
            (
                execution_role,
                "AwsSolutions-IAM5[Resource::*]",
                "ecr:GetAuthorizationToken has no resource type and requires Resource *.",
            )
        )
        found.append(
            (
                group.task.task_role,
                f"AwsSolutions-IAM5[Resource::<{payloads}.Arn>/envelopes/*]",
                "s3:PutObject only, under the envelopes/ prefix: one object per oversized envelope, keyed by its "
                "event key.",
            )
        )
        found.append(
            (
                group.task,
                "AwsSolutions-ECS2",
                "The environment holds configuration only (table, bucket and secret names, topics); the token is "
                "read from Secrets Manager at run time and never passed in the environment.",
            )
        )
    return found


def _archive(stack: GenesysBridgeStack, payloads: str) -> list[tuple[IConstruct, str, str]]:
    archive = stack.archive
    assert archive is not None
    assert archive.function.role is not None
    role = archive.function.role
    events = stack.get_logical_id(stack.store.events.node.default_child)  # type: ignore[arg-type]
    bucket = stack.get_logical_id(archive.bucket.node.default_child)  # type: ignore[arg-type]
    coverage = stack.get_logical_id(stack.store.coverage.node.default_child)  # type: ignore[arg-type]
    return [
        (
            role,
            f"AwsSolutions-IAM5[Resource::<{payloads}.Arn>/envelopes/*]",
            "s3:GetObject only, under envelopes/: an oversized envelope is archived whole, read from where it is kept.",
        ),
        (
            role,
            f"AwsSolutions-IAM5[Resource::<{bucket}.Arn>/*]",
            "s3:PutObject and s3:GetObject on the archive's objects: each segment and manifest has a name made from "
            "its org, day and stream sequence numbers, unknown in advance. No delete: Object Lock refuses it anyway.",
        ),
        (
            role,
            f"AwsSolutions-IAM5[Resource::<{events}.Arn>/index/*]",
            "Read of the events table's indexes: a judged window's gaps are classified by the EventBridge deliveries "
            "in them, listed from the time index.",
        ),
        (
            role,
            f"AwsSolutions-IAM5[Resource::<{coverage}.Arn>/index/*]",
            "Added by the table's grant_read_data; the coverage table has no index, so it matches nothing.",
        ),
        (archive.dead_letters, "AwsSolutions-SQS3", "This queue is itself the archiver's on-failure destination."),
    ]


def acknowledge(stack: GenesysBridgeStack) -> None:
    for construct, rule, reason in acknowledgements(stack):
        _ack(construct, rule, reason)
