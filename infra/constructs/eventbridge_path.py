"""The second path for one org: Genesys' partner event source -> its event bus -> a rule -> SQS -> the consumer.

EventBridge stores nothing and delivers at least once; the queue keeps 14 days, its DLQ keeps what the consumer
could not take, and the consumer writes with the same conditional put as the worker.
"""

from __future__ import annotations

import json

from aws_cdk import Duration
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.bundling import bridge_function
from infra.config import BridgeConfig, Org
from infra.constructs.event_storage import EventStorage

RETENTION = Duration.days(14)
CONSUMER_TIMEOUT = Duration.seconds(30)


class EventBridgePath(Construct):
    def __init__(self, scope: Construct, cid: str, *, config: BridgeConfig, org: Org, store: EventStorage) -> None:
        super().__init__(scope, cid)
        assert org.eventbridge is not None
        source = org.eventbridge.event_source_name
        # the bus associates the partner source: its name is the source's (AWS::Events::EventBus EventSourceName)
        self.bus = events.EventBus(self, "PartnerBus", event_source_name=source)
        self.dead_letters = sqs.Queue(
            self,
            "DeadLetters",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=RETENTION,
        )
        self.queue = sqs.Queue(
            self,
            "Queue",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=RETENTION,
            visibility_timeout=Duration.seconds(CONSUMER_TIMEOUT.to_seconds() * 6),  # AWS: >= 6 x function timeout
            dead_letter_queue=sqs.DeadLetterQueue(queue=self.dead_letters, max_receive_count=5),
        )
        pattern = events.EventPattern(source=[source])
        if not org.eventbridge.all_topics:
            pattern = events.EventPattern(source=[source], detail_type=org.detail_types())
        self.rule = events.Rule(self, "Topics", event_bus=self.bus, event_pattern=pattern)
        # EventBridge retries a target for 24 h / 185 attempts, then the event goes to the same DLQ
        self.rule.add_target(
            targets.SqsQueue(
                self.queue, dead_letter_queue=self.dead_letters, retry_attempts=185, max_event_age=Duration.hours(24)
            )
        )
        self.consumer = bridge_function(
            self,
            "Consumer",
            handler="functions.consume_events.handler.handler",
            log_retention_days=config.log_retention_days,
            environment={
                "EVENTS_TABLE": store.events.table_name,
                "PAYLOAD_BUCKET": store.payloads.bucket_name,
                "SOURCES": json.dumps({source: org.name}),
                "EVENT_TTL_DAYS": str(config.event_ttl_days or ""),
                "POWERTOOLS_METRICS_NAMESPACE": config.metrics_namespace,
                "POWERTOOLS_SERVICE_NAME": "eventbridge-consumer",
            },
            timeout=CONSUMER_TIMEOUT,
        )
        self.consumer.add_event_source(
            sources.SqsEventSource(self.queue, batch_size=10, report_batch_item_failures=True)
        )
        role = self.consumer.role
        assert role is not None
        store.grant_event_writes(role)
