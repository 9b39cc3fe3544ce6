"""Adapter over the coverage table for the auditor: every task's sessions of a shard that can overlap a window,
the tasks' ledger heartbeats, and the auditor's own verdicts (one item per shard and window, written once)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import boto3
from botocore.exceptions import ClientError

from evidence.coverage import (
    TASKS_PARTITION,
    Session,
    heartbeat_of,
    judged_partition,
    session_key_range,
    window_sort_key,
)
from evidence.gap_table import GapTable
from functions.secrets_store import RETRIES

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


class CoverageReader:
    def __init__(self, table: str, client: Any | None = None) -> None:
        self._client: DynamoDBClient = client or boto3.client("dynamodb", config=RETRIES)
        self._table = table

    @property
    def gaps(self) -> GapTable:
        """The gap records beside the ledger (evidence/gap_table.py)."""
        return GapTable(self._client, self._table)

    @property
    def client(self) -> Any:
        """The same client, for the events table's read side (evidence/queries.py)."""
        return self._client

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

    def _query(self, partition: str, low: str | None = None) -> Iterator[dict[str, Any]]:
        condition, values = "#s = :s", {":s": {"S": partition}}
        names = {"#s": "shard"}
        if low is not None:
            condition += " AND #k >= :a"
            names["#k"] = "session"
            values[":a"] = {"S": low}
        pages = self._client.get_paginator("query").paginate(
            TableName=self._table,
            KeyConditionExpression=condition,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
            ConsistentRead=True,
        )
        for page in pages:
            yield from page.get("Items", [])

    def heartbeats(self) -> dict[str, float]:
        """Each task's last ledger write."""
        return dict(heartbeat_of(item) for item in self._query(TASKS_PARTITION))

    def judged(self, shard: str, since: float) -> set[float]:
        """Starts of the windows of ``shard`` from ``since`` on that already have a verdict."""
        items = self._query(judged_partition(shard), window_sort_key(since))
        return {int(item["session"]["S"]) / 1000 for item in items}

    def record_verdict(
        self,
        shard: str,
        start: float,
        *,
        end: float,
        uncovered_seconds: float,
        live_tasks: int,
        forced: bool,
        judged_at: float,
    ) -> bool:
        """Write the verdict once; False when a concurrent or earlier run already wrote it (it is not emitted again)."""
        try:
            self._client.put_item(
                TableName=self._table,
                Item={
                    "shard": {"S": judged_partition(shard)},
                    "session": {"S": window_sort_key(start)},
                    "end_ms": {"N": str(int(end * 1000))},  # the archiver's coverage manifest names the window
                    "uncovered_ms": {"N": str(round(uncovered_seconds * 1000))},
                    "live_tasks": {"N": str(live_tasks)},
                    "forced": {"BOOL": forced},
                    "judged_ms": {"N": str(int(judged_at * 1000))},
                },
                ConditionExpression="attribute_not_exists(#s)",
                ExpressionAttributeNames={"#s": "shard"},
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise
        return True
