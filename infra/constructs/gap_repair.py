"""The gap repair: a scheduled Lambda that rebuilds what recorded gaps hid from Genesys REST (functions/repair_gaps)."""

from __future__ import annotations

import json

from aws_cdk import Duration
from aws_cdk import aws_iam as iam
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_scheduler_targets as targets
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from evidence.gaps import GAPS_PARTITION
from infra.bundling import bridge_function
from infra.config import BridgeConfig
from infra.constructs.event_storage import EventStorage

REPAIR_EVERY = Duration.minutes(5)


class GapRepair(Construct):
    def __init__(
        self,
        scope: Construct,
        cid: str,
        *,
        config: BridgeConfig,
        store: EventStorage,
        token_secrets: dict[str, secretsmanager.ISecret],
        dead_letters: sqs.IQueue,
    ) -> None:
        super().__init__(scope, cid)
        orgs = [{"name": o.name, "environment": o.environment, "token_secret": o.token_secret} for o in config.orgs]
        self.function = bridge_function(
            self,
            "Repair",
            handler="functions.repair_gaps.handler.handler",
            log_retention_days=config.log_retention_days,
            environment={
                "COVERAGE_TABLE": store.coverage.table_name,
                "EVENTS_TABLE": store.events.table_name,
                "PAYLOAD_BUCKET": store.payloads.bucket_name,
                "ORGS": json.dumps(orgs, separators=(",", ":")),
                "POWERTOOLS_METRICS_NAMESPACE": config.metrics_namespace,
                "POWERTOOLS_SERVICE_NAME": "gap-repair",
            },
            timeout=Duration.minutes(10),  # 429s are waited out (bounded), audits polled
            reserved_concurrency=1,  # one run at a time: a gap is repaired once per pass
        )
        role = self.function.role
        assert role is not None
        store.coverage.grant_read_data(role)
        # its gap records only: never a session, a verdict or the archive's chain
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["dynamodb:PutItem"],
                resources=[store.coverage.table_arn],
                conditions={"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": [GAPS_PARTITION]}},
            )
        )
        # reconstructions: new items through the conditional put, nothing else
        role.add_to_principal_policy(
            iam.PolicyStatement(actions=["dynamodb:PutItem", "dynamodb:GetItem"], resources=[store.events.table_arn])
        )
        store.grant_key(role)
        for org in config.orgs:
            token_secrets[org.name].grant_read(role)
        self.schedule = scheduler.Schedule(
            self,
            "Every five minutes",
            schedule=scheduler.ScheduleExpression.rate(REPAIR_EVERY),
            description="Rebuild what recorded gaps hid from Genesys REST",
            target=targets.LambdaInvoke(
                self.function,
                input=scheduler.ScheduleTargetInput.from_object({}),
                dead_letter_queue=dead_letters,
                retry_attempts=1,
                max_event_age=Duration.minutes(5),
            ),
        )
