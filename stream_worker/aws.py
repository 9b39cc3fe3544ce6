"""Adapters over DynamoDB and S3 (the only place the worker touches boto3)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from stream_worker.records import Item, payload_object_key

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_s3 import S3Client

# botocore's standard retry mode backs off on throttling; the writer retries again above it, forever.
AWS_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 8}, max_pool_connections=64, connect_timeout=5, read_timeout=10
)


def dynamodb_client() -> DynamoDBClient:
    return boto3.client("dynamodb", config=AWS_CONFIG)


def s3_client() -> S3Client:
    return boto3.client("s3", config=AWS_CONFIG)


class EventStore:
    """Conditional puts: the first copy of an event key is stored, every later copy is a duplicate."""

    def __init__(self, dynamodb: Any, s3: Any, table: str, bucket: str) -> None:
        self._dynamodb: DynamoDBClient = dynamodb
        self._s3: S3Client = s3
        self._table = table
        self._bucket = bucket

    def put_new(self, item: Item, overflow: bytes | None) -> bool:
        """True when stored, False when the key already existed (a duplicate absorbed)."""
        if overflow is not None:
            key = payload_object_key(item["pk"]["S"].replace("#", "_"))
            self._s3.put_object(Bucket=self._bucket, Key=key, Body=overflow, ContentEncoding="gzip")
            item = {**item, "envelope_s3": {"S": f"s3://{self._bucket}/{key}"}}
        try:
            self._dynamodb.put_item(
                TableName=self._table,
                Item=item,
                ConditionExpression="attribute_not_exists(#pk)",
                ExpressionAttributeNames={"#pk": "pk"},
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True

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

    def sessions(self, shard: str, start_from: str, start_to: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "#s = :s AND #k BETWEEN :a AND :b",
            "ExpressionAttributeNames": {"#s": "shard", "#k": "session"},
            "ExpressionAttributeValues": {":s": {"S": shard}, ":a": {"S": start_from}, ":b": {"S": start_to}},
        }
        while True:
            page = self._dynamodb.query(**kwargs)
            items.extend(page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return items
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
