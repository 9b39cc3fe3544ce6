"""The conditional put that makes storage exactly-once, shared by the stream worker and the EventBridge consumer.

The first copy of an event key is stored; every later copy, whichever task or path delivers it, is a duplicate.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError, ParamValidationError

from evidence.arrivals import MAX_ORDINAL, Match, arrivals_attribute, at_ordinal, match, ordinal_key
from evidence.records import Item, payload_object_key

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_s3 import S3Client

# DynamoDB refuses these for good: the same request can never succeed, so retrying would only block a writer
PERMANENT_ERRORS = frozenset(
    {"ValidationException", "SerializationException", "ItemCollectionSizeLimitExceededException"}
)
NEW_KEY = "attribute_not_exists(#pk)"
# the store, its capacity or our access to it: nothing is wrong with the item, and the same put can succeed later
STORE_SIDE_ERRORS = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "LimitExceededException",
        "TransactionConflictException",
        "ServiceUnavailable",
        "ExpiredTokenException",
        "AccessDeniedException",
        "UnrecognizedClientException",
    }
)


class ItemFailed(Exception):
    """The store answered this put with an error that names no cause (a 5xx, an unknown code): it may pass on a
    retry, or it may be the item (DynamoDB does not document what it answers to, say, a key that is not valid
    UTF-8). The caller retries it, and decides when an item that keeps failing while others are stored is kept
    in quarantine instead."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code


@dataclass(frozen=True, slots=True)
class Stored:
    """The first copy of this notification: the item is now in the table. ``ordinal`` > 1: its content repeats an
    earlier notification's, and it is kept as an item of its own (evidence/arrivals.py)."""

    ordinal: int = 1


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

    Anything else that fails raises, and the caller retries: throttling, network and permissions as themselves,
    an error that names no cause as ``ItemFailed``.
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
        """Store a notification once. An event item that meets an item of the same content is a copy of it, or
        the next distinct notification of that content (evidence/arrivals.py); any other item is put once."""
        arrival = item.get("arrival", {}).get("S")
        if arrival is None or item.get("kind", {}).get("S") != "event":
            return self._put(key, item, overflow)
        source = item["source"]["S"]
        ordinal = 1
        while ordinal <= MAX_ORDINAL:
            outcome = self._put(ordinal_key(key, ordinal), at_ordinal(item, key, ordinal), overflow)
            if not isinstance(outcome, Duplicate):
                return Stored(ordinal) if isinstance(outcome, Stored) else outcome
            existing = outcome.existing
            while True:
                verdict = match(existing, source, arrival)
                if verdict is Match.SAME:
                    return outcome
                if verdict is Match.OTHER:
                    ordinal += 1
                    break
                taken, current = self._take(ordinal_key(key, ordinal), source, arrival)
                if taken:
                    return outcome  # this arrival is that item's copy on this path
                if current is None:
                    break  # the item is gone (expired) since it was read: put this ordinal again
                existing = current  # another arrival of this path took it first: judge again
        return Rejected(f"content repeated by more than {MAX_ORDINAL} distinct notifications")

    def _take(self, pk: str, source: str, arrival: str) -> tuple[bool, Item | None]:
        """Record the arrival on an item its path has not recorded yet: (True, None) when recorded; else (False,
        the item as it now is), its item None when it is gone."""
        try:
            self._dynamodb.update_item(
                TableName=self._table,
                Key={"pk": {"S": pk}},
                UpdateExpression="ADD #a :a",
                ConditionExpression="attribute_exists(#pk) AND attribute_not_exists(#a)",
                ExpressionAttributeNames={"#pk": "pk", "#a": arrivals_attribute(source)},
                ExpressionAttributeValues={":a": {"SS": [arrival]}},
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                current: Item = dict(exc.response.get("Item") or {})  # type: ignore[call-overload]
                return False, current or None
            raise _retryable(exc) from exc
        return True, None

    def _put(self, key: str, item: Item, overflow: bytes | None) -> WriteOutcome:
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
            raise _retryable(exc) from exc
        except ParamValidationError as exc:  # refused before sending: no retry can change that
            return Rejected(f"ParamValidationError: {exc}")
        return Stored()

    def fetch_payload(self, uri: str) -> bytes:
        bucket, _, key = uri.removeprefix("s3://").partition("/")
        body: bytes = self._s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        return body


def _retryable(exc: ClientError) -> Exception:
    """What the caller retries: the store's own trouble as it came, anything naming no cause as ``ItemFailed``."""
    error = exc.response.get("Error", {})
    code = error.get("Code", "")
    return exc if code in STORE_SIDE_ERRORS else ItemFailed(code, str(error.get("Message", "")))
