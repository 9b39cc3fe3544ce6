"""The conditional put that makes storage exactly-once, shared by the stream worker and the EventBridge consumer.

The first copy of an event key is stored; every later copy, whichever task or path delivers it, is a duplicate.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError, ParamValidationError

from evidence.records import Item, payload_object_key

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_s3 import S3Client

# DynamoDB refuses these for good: the same request can never succeed, so retrying would only block a writer
PERMANENT_ERRORS = frozenset(
    {"ValidationException", "SerializationException", "ItemCollectionSizeLimitExceededException"}
)
NEW_KEY = "attribute_not_exists(#pk)"


@dataclass(frozen=True, slots=True)
class Stored:
    """The first copy of this event key: the item is now in the table."""


@dataclass(frozen=True, slots=True)
class Duplicate:
    """The key was already stored (by this task, another task or another path); ``existing`` is that item."""

    existing: Item


@dataclass(frozen=True, slots=True)
class Rejected:
    """The store refused the item for good (too large, a key over its limit, ...): it must go to quarantine."""

    reason: str


WriteOutcome = Stored | Duplicate | Rejected


class EventStore:
    """Conditional puts: the first copy of an event key is stored, every later copy is a duplicate.

    Anything else that fails raises, and the caller retries: throttling, 5xx, network, permissions.
    """

    @classmethod
    def connect(cls, table: str, bucket: str, config: Config | None = None) -> EventStore:
        """With boto3 clients of its own (standard retry mode: throttling is retried before it reaches the caller)."""
        config = config or Config(retries={"mode": "standard", "max_attempts": 8}, connect_timeout=5, read_timeout=10)
        return cls(boto3.client("dynamodb", config=config), boto3.client("s3", config=config), table, bucket)

    def __init__(self, dynamodb: Any, s3: Any, table: str, bucket: str) -> None:
        self._dynamodb: DynamoDBClient = dynamodb
        self._s3: S3Client = s3
        self._table = table
        self._bucket = bucket

    def put_new(self, key: str, item: Item, overflow: bytes | None) -> WriteOutcome:
        try:
            if overflow is not None:
                object_key = payload_object_key(key.replace("#", "_"))
                self._s3.put_object(Bucket=self._bucket, Key=object_key, Body=overflow, ContentEncoding="gzip")
                item = {**item, "envelope_s3": {"S": f"s3://{self._bucket}/{object_key}"}}
            self._dynamodb.put_item(
                TableName=self._table,
                Item=item,
                ConditionExpression=NEW_KEY,
                ExpressionAttributeNames={"#pk": "pk"},
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            error = exc.response.get("Error", {})
            code = error.get("Code", "")
            if code == "ConditionalCheckFailedException":
                existing: Item = dict(exc.response.get("Item") or {})  # type: ignore[call-overload]
                return Duplicate(existing)
            if code in PERMANENT_ERRORS:
                return Rejected(f"{code}: {error.get('Message', '')}")
            raise
        except ParamValidationError as exc:  # refused before sending: no retry can change that
            return Rejected(f"ParamValidationError: {exc}")
        return Stored()

    def fetch_payload(self, uri: str) -> bytes:
        bucket, _, key = uri.removeprefix("s3://").partition("/")
        body: bytes = self._s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        return body
