"""Adapters over DynamoDB, S3 and Secrets Manager: the only place the worker touches boto3."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import boto3
from aws_lambda_powertools.utilities.parameters import SecretsProvider
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, ParamValidationError

from stream_worker.records import Item, payload_object_key

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_s3 import S3Client

# botocore's standard retry mode backs off on throttling; the writer retries again above it, forever.
AWS_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 8}, max_pool_connections=64, connect_timeout=5, read_timeout=10
)
# DynamoDB refuses these for good: the same request can never succeed, so retrying would only block a writer
PERMANENT_ERRORS = frozenset(
    {"ValidationException", "SerializationException", "ItemCollectionSizeLimitExceededException"}
)
NEW_KEY = "attribute_not_exists(#pk)"
AWS_ERRORS = (ClientError, BotoCoreError)  # what a failed AWS call raises, for callers that report it


def dynamodb_client() -> DynamoDBClient:
    return boto3.client("dynamodb", config=AWS_CONFIG)


def s3_client() -> S3Client:
    return boto3.client("s3", config=AWS_CONFIG)


def secrets_provider() -> SecretsProvider:
    return SecretsProvider(boto3_client=boto3.client("secretsmanager", config=AWS_CONFIG))


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


class CoverageTable:
    """One item per socket session: when it was confirmed and until when it was known alive."""

    def __init__(self, dynamodb: Any, table: str) -> None:
        self._dynamodb: DynamoDBClient = dynamodb
        self._table = table

    def put_session(self, item: Item) -> None:
        self._dynamodb.put_item(TableName=self._table, Item=item)

    def sessions(self, shard: str, start_from: str, start_to: str) -> Iterator[dict[str, Any]]:
        pages = self._dynamodb.get_paginator("query").paginate(
            TableName=self._table,
            KeyConditionExpression="#s = :s AND #k BETWEEN :a AND :b",
            ExpressionAttributeNames={"#s": "shard", "#k": "session"},
            ExpressionAttributeValues={":s": {"S": shard}, ":a": {"S": start_from}, ":b": {"S": start_to}},
        )
        for page in pages:
            yield from page.get("Items", [])
