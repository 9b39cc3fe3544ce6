"""The EventBridge path on the local stack: a bus and a rule in moto's EventBridge, an SQS queue with its DLQ, and
the consumer Lambda's handler run against the queue as Lambda's SQS event source runs it (batches, partial
failures, redelivery after the visibility timeout)."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import boto3

from genesys.topics import detail_type

log = logging.getLogger(__name__)
LOCAL_BUS = "genesys-partner-local"  # moto keeps no rules on a bus whose name has "/", as a partner bus's does
SOURCE = "aws.partner/genesys.com/cloud/7f6e5d4c-0000-4000-8000-000000000001/bridge"
QUEUE, DEAD_LETTERS = "genesys-eventbridge", "genesys-eventbridge-dlq"
VISIBILITY = 20  # seconds before SQS offers an unfinished message again (well above a batch's processing time)


@dataclass(frozen=True)
class EventBridgePath:
    queue_url: str
    dead_letters_url: str


def create_eventbridge_path(topics: Iterable[str]) -> EventBridgePath:
    sqs, events = boto3.client("sqs"), boto3.client("events")
    dlq = sqs.create_queue(QueueName=DEAD_LETTERS)["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    url = sqs.create_queue(
        QueueName=QUEUE,
        Attributes={
            "VisibilityTimeout": str(VISIBILITY),
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "5"}),
        },
    )["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.create_event_bus(Name=LOCAL_BUS)
    kinds = sorted({k for k in (detail_type(t) for t in topics) if k})
    events.put_rule(
        Name="genesys-topics",
        EventBusName=LOCAL_BUS,
        EventPattern=json.dumps({"source": [SOURCE], "detail-type": kinds}),
    )
    events.put_targets(Rule="genesys-topics", EventBusName=LOCAL_BUS, Targets=[{"Id": "queue", "Arn": arn}])
    return EventBridgePath(url, dlq)


class LocalContext:
    """What the handler's Powertools decorators read of Lambda's context."""

    function_version = "$LATEST"
    memory_limit_in_mb = 512

    def __init__(self, function_name: str = "eventbridge-consumer") -> None:
        self.function_name = function_name
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{function_name}"
        self.aws_request_id = str(uuid.uuid4())

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


@dataclass
class ConsumerLoop:
    """Polls the queue in batches of 10 and hands each batch to the consumer's handler, deleting what succeeded."""

    path: EventBridgePath
    environment: dict[str, str]
    batches: int = 0
    failures: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _paused: threading.Event = field(default_factory=threading.Event)
    _saved: dict[str, str | None] = field(default_factory=dict)

    def start(self) -> ConsumerLoop:
        # the handler reads its configuration from the environment, as in Lambda; stop() puts it back
        self._saved = {k: os.environ.get(k) for k in self.environment}
        os.environ.update(self.environment)
        self._thread = threading.Thread(target=self._run, name="eventbridge-consumer", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(15)
        for key, value in self._saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value

    def pause(self, paused: bool) -> None:
        """Paused, as when Lambda is throttled or the function is broken: messages wait in the queue."""
        if paused:
            self._paused.set()
        else:
            self._paused.clear()

    def queued(self) -> int:
        """Messages in the queue, visible or in flight (SQS's approximate counts)."""
        attributes = boto3.client("sqs").get_queue_attributes(
            QueueUrl=self.path.queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])

    def _run(self) -> None:
        from functions.consume_events.handler import handler  # as Lambda imports it: once, with its environment

        sqs = boto3.client("sqs")
        while not self._stop.is_set():
            if self._paused.is_set():
                self._stop.wait(0.1)
                continue
            try:
                self._poll(sqs, handler)
            except Exception:  # the event source keeps polling whatever one invocation did
                log.exception("consumer poll failed; polling again")
                self._stop.wait(0.5)

    def _poll(self, sqs: Any, handler: Any) -> None:
        answer = sqs.receive_message(
            QueueUrl=self.path.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1, AttributeNames=["All"]
        )
        messages = answer.get("Messages", [])
        if not messages:
            return
        try:
            result = handler(self.event(messages), LocalContext())
        except Exception:  # a failed invocation, as Lambda sees it: the batch returns after the visibility timeout
            log.exception("consumer invocation failed; SQS will deliver the batch again")
            self.failures += len(messages)
            return
        failed = {f["itemIdentifier"] for f in result.get("batchItemFailures", [])}
        self.batches += 1
        self.failures += len(failed)
        if failed:  # as Lambda does with partial failures: those come back (here at once, not after the timeout)
            sqs.change_message_visibility_batch(
                QueueUrl=self.path.queue_url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 1}
                    for i, m in enumerate(messages)
                    if m["MessageId"] in failed
                ],
            )
        done = [m for m in messages if m["MessageId"] not in failed]
        if done:
            sqs.delete_message_batch(
                QueueUrl=self.path.queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)],
            )

    def event(self, messages: list[dict[str, Any]]) -> dict[str, Any]:
        """Lambda's SQS event for a batch of messages."""
        return {
            "Records": [
                {
                    "messageId": m["MessageId"],
                    "receiptHandle": m["ReceiptHandle"],
                    "body": m["Body"],
                    "attributes": m.get("Attributes", {}),
                    "messageAttributes": {},
                    "md5OfBody": hashlib.md5(m["Body"].encode(), usedforsecurity=False).hexdigest(),
                    "eventSource": "aws:sqs",
                    "eventSourceARN": f"arn:aws:sqs:us-east-1:123456789012:{QUEUE}",
                    "awsRegion": "us-east-1",
                }
                for m in messages
            ]
        }
