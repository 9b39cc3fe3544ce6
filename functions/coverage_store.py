"""Adapter over the coverage table for the auditor: every task's sessions of a shard that can overlap a window."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import boto3

from evidence.coverage import Session, session_key_range
from functions.secrets_store import RETRIES

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


class CoverageReader:
    def __init__(self, table: str, client: Any | None = None) -> None:
        self._client: DynamoDBClient = client or boto3.client("dynamodb", config=RETRIES)
        self._table = table

    def sessions(self, shard: str, t1: float, t2: float) -> Iterator[Session]:
        low, high = session_key_range(t1, t2)
        pages = self._client.get_paginator("query").paginate(
            TableName=self._table,
            KeyConditionExpression="#s = :s AND #k BETWEEN :a AND :b",
            ExpressionAttributeNames={"#s": "shard", "#k": "session"},
            ExpressionAttributeValues={":s": {"S": shard}, ":a": {"S": low}, ":b": {"S": high}},
            ConsistentRead=True,
        )
        for page in pages:
            for item in page.get("Items", []):
                yield Session.of(item)
