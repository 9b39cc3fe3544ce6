"""Adapters over DynamoDB, S3 and Secrets Manager for the worker (the conditional put is evidence.store)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import boto3
from aws_lambda_powertools.utilities.parameters import SecretsProvider
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from evidence.coverage import REJECTED_PREFIX, is_shard
from evidence.records import Item

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_s3 import S3Client

# botocore's standard retry mode backs off on throttling; the writer retries again above it, forever.
AWS_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 8}, max_pool_connections=64, connect_timeout=5, read_timeout=10
)
AWS_ERRORS = (ClientError, BotoCoreError)  # what a failed AWS call raises, for callers that report it


def dynamodb_client() -> DynamoDBClient:
    return boto3.client("dynamodb", config=AWS_CONFIG)


def s3_client() -> S3Client:
    return boto3.client("s3", config=AWS_CONFIG)


def secrets_provider() -> SecretsProvider:
    return SecretsProvider(boto3_client=boto3.client("secretsmanager", config=AWS_CONFIG))


class CoverageTable:
    """One item per socket session: when it was confirmed and until when it was known alive."""

    def __init__(self, dynamodb: Any, table: str) -> None:
        self._dynamodb: DynamoDBClient = dynamodb
        self._table = table

    def put_session(self, item: Item) -> None:
        self._dynamodb.put_item(TableName=self._table, Item=item)

    def shards(self) -> list[str]:
        """Every shard with a ledger: a scan of the partition keys, for when no stack lists them (a local stack)."""
        pages = self._dynamodb.get_paginator("scan").paginate(
            TableName=self._table, ProjectionExpression="#s", ExpressionAttributeNames={"#s": "shard"}
        )
        return sorted({i["shard"]["S"] for page in pages for i in page.get("Items", []) if is_shard(i["shard"]["S"])})

    def rejected(self, org: str) -> list[dict[str, Any]]:
        """The topics Genesys refused for ``org``, as the workers recorded them (plain values)."""
        pages = self._dynamodb.get_paginator("query").paginate(
            TableName=self._table,
            KeyConditionExpression="#s = :s",
            ExpressionAttributeNames={"#s": "shard"},
            ExpressionAttributeValues={":s": {"S": f"{REJECTED_PREFIX}{org}"}},
        )
        return [
            {
                "topic": i["session"]["S"],
                "reason": i.get("reason", {}).get("S", ""),
                "missing_permissions": sorted(i.get("missing_permissions", {}).get("SS", [])),
                "rejected_at": int(i["rejected_ms"]["N"]) / 1000,
            }
            for page in pages
            for i in page.get("Items", [])
        ]

    def first_and_last(self, shard: str) -> tuple[float | None, float | None]:
        """The start of the shard's first session and the end of its latest one (seconds), if any."""
        found: list[float | None] = []
        for forward, attribute in ((True, "start_ms"), (False, "end_ms")):
            items = self._dynamodb.query(
                TableName=self._table,
                KeyConditionExpression="#s = :s",
                ExpressionAttributeNames={"#s": "shard"},
                ExpressionAttributeValues={":s": {"S": shard}},
                ScanIndexForward=forward,
                Limit=1,
            ).get("Items", [])
            found.append(int(items[0][attribute]["N"]) / 1000 if items else None)
        return found[0], found[1]

    def sessions(self, shard: str, start_from: str, start_to: str) -> Iterator[dict[str, Any]]:
        pages = self._dynamodb.get_paginator("query").paginate(
            TableName=self._table,
            KeyConditionExpression="#s = :s AND #k BETWEEN :a AND :b",
            ExpressionAttributeNames={"#s": "shard", "#k": "session"},
            ExpressionAttributeValues={":s": {"S": shard}, ":a": {"S": start_from}, ":b": {"S": start_to}},
        )
        for page in pages:
            yield from page.get("Items", [])
