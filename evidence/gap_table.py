"""Adapter over the coverage table's gap records (``_gaps``) and shard plans (``_topics``): written by the coverage
auditor, repaired by the repair function or ``genesys-bridge repair``, listed by ``genesys-bridge gaps``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from botocore.exceptions import ClientError

from evidence.coverage import TOPICS_PARTITION
from evidence.gaps import GAPS_PARTITION, PENDING, UNCOVERED, GapRecord, gap_sort_key


class GapTable:
    def __init__(self, client: Any, table: str) -> None:
        self._client = client
        self._table = table

    def shard_topics(self, shard: str) -> list[str]:
        """The topics the shard's task said it carries (empty when no task of this version ran it)."""
        found = self._client.get_item(
            TableName=self._table,
            Key={"shard": {"S": TOPICS_PARTITION}, "session": {"S": shard}},
            ConsistentRead=True,
        ).get("Item")
        return [t["S"] for t in found["topics"]["L"]] if found else []

    def record_gap(self, gap: GapRecord) -> GapRecord:
        """Write a judged gap once; a gap that begins where the shard's last one ends (one outage crossing a window
        boundary) extends that one instead. Idempotent: a re-judged window finds its seconds already there."""
        last = self._last_gap(gap.shard)
        if last is not None and last.start <= gap.start <= last.end + 0.001:
            if gap.end <= last.end:
                return last  # already recorded
            extended = GapRecord(
                last.shard,
                last.start,
                gap.end,
                UNCOVERED if UNCOVERED in (last.classification, gap.classification) else last.classification,
                last.eventbridge_events + gap.eventbridge_events,
                max(last.topics, gap.topics),
                status=PENDING if UNCOVERED in (last.classification, gap.classification) else last.status,
            )
            self._put_gap(extended, expected_end=last.end)
            return extended
        self._put_gap(gap, expected_end=None)
        return gap

    def save_gap(self, gap: GapRecord, *, expected_end: float) -> bool:
        """A repair's outcome; False when the auditor extended the gap meanwhile (repair it again)."""
        try:
            self._put_gap(gap, expected_end=expected_end)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def gaps(self, since: float | None = None, until: float | None = None) -> list[GapRecord]:
        """Every gap record overlapping [since, until], oldest first."""
        found = [GapRecord.of(i) for i in self._query(GAPS_PARTITION)]
        return sorted(
            (g for g in found if (since is None or g.end >= since) and (until is None or g.start <= until)),
            key=lambda g: (g.start, g.shard),
        )

    def gap(self, identity: str) -> GapRecord | None:
        shard, _, start_ms = identity.rpartition("@")
        if not shard or not start_ms.isdigit():
            return None
        found = self._client.get_item(
            TableName=self._table,
            Key={"shard": {"S": GAPS_PARTITION}, "session": {"S": gap_sort_key(shard, int(start_ms) / 1000)}},
            ConsistentRead=True,
        ).get("Item")
        return GapRecord.of(found) if found else None

    def _last_gap(self, shard: str) -> GapRecord | None:
        answer = self._client.query(
            TableName=self._table,
            KeyConditionExpression="#s = :s AND begins_with(#k, :p)",
            ExpressionAttributeNames={"#s": "shard", "#k": "session"},
            ExpressionAttributeValues={":s": {"S": GAPS_PARTITION}, ":p": {"S": f"{shard}#"}},
            ScanIndexForward=False,
            Limit=1,
            ConsistentRead=True,
        )
        items = answer.get("Items", [])
        return GapRecord.of(items[0]) if items else None

    def _put_gap(self, gap: GapRecord, *, expected_end: float | None) -> None:
        if expected_end is None:
            condition = {"ConditionExpression": "attribute_not_exists(#s)", "ExpressionAttributeNames": {"#s": "shard"}}
            try:
                self._client.put_item(TableName=self._table, Item=gap.item(), **condition)
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                    raise
            return
        self._client.put_item(
            TableName=self._table,
            Item=gap.item(),
            ConditionExpression="#e = :e",
            ExpressionAttributeNames={"#e": "end_ms"},
            ExpressionAttributeValues={":e": {"N": str(round(expected_end * 1000))}},
        )

    def _query(self, partition: str) -> Iterator[dict[str, Any]]:
        pages = self._client.get_paginator("query").paginate(
            TableName=self._table,
            KeyConditionExpression="#s = :s",
            ExpressionAttributeNames={"#s": "shard"},
            ExpressionAttributeValues={":s": {"S": partition}},
            ConsistentRead=True,
        )
        for page in pages:
            yield from page.get("Items", [])
