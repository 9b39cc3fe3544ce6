"""The coverage auditor: a scheduled Lambda that merges every task's ledger per shard for each closed window."""

from __future__ import annotations

import json

from aws_cdk import Duration
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_scheduler_targets as targets
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.bundling import bridge_function
from infra.config import BridgeConfig

WINDOW_SECONDS = 60
LOOKBACK_SECONDS = 600  # a window still unsettled this long after it ended is judged as it stands
TASK_SILENCE_SECONDS = 60  # tasks write their ledger every 10 s: six missed writes is a dead task


class CoverageAuditor(Construct):
    def __init__(
        self,
        scope: Construct,
        cid: str,
        *,
        config: BridgeConfig,
        coverage: dynamodb.ITable,
        events: dynamodb.ITable,
        dead_letters: sqs.IQueue,
    ) -> None:
        super().__init__(scope, cid)
        self.function = bridge_function(
            self,
            "Auditor",
            handler="functions.audit_coverage.handler.handler",
            log_retention_days=config.log_retention_days,
            environment={
                "COVERAGE_TABLE": coverage.table_name,
                "EVENTS_TABLE": events.table_name,  # a gap's EventBridge deliveries classify it
                "SHARDS": json.dumps([s.id for s in config.shards()]),
                "WINDOW_SECONDS": str(WINDOW_SECONDS),
                "LOOKBACK_SECONDS": str(LOOKBACK_SECONDS),
                "TASK_SILENCE_SECONDS": str(TASK_SILENCE_SECONDS),
                "POWERTOOLS_METRICS_NAMESPACE": config.metrics_namespace,
                "POWERTOOLS_SERVICE_NAME": "coverage-auditor",
            },
            timeout=Duration.seconds(50),
            reserved_concurrency=1,
        )
        # reads the ledger, writes one verdict per shard and window (PutItem only: no update, no delete)
        coverage.grant_read_data(self.function)
        events.grant_read_data(self.function)
        coverage.grant(self.function, "dynamodb:PutItem")
        if coverage.encryption_key is not None:
            coverage.encryption_key.grant(self.function, "kms:Encrypt", "kms:GenerateDataKey")
        self.schedule = scheduler.Schedule(
            self,
            "Every window",
            schedule=scheduler.ScheduleExpression.rate(Duration.seconds(WINDOW_SECONDS)),
            description="Merge the coverage ledger of every task per shard",
            target=targets.LambdaInvoke(
                self.function,
                # the schedule's own time, identical on a retry: the windows judged never depend on invocation delay
                # (EventBridge Scheduler User Guide, "Adding context attributes")
                input=scheduler.ScheduleTargetInput.from_object(
                    {"scheduled_time": scheduler.ContextAttribute.scheduled_time}
                ),
                dead_letter_queue=dead_letters,
                retry_attempts=1,
                max_event_age=Duration.minutes(1),
            ),
        )
