"""Adapters of the archiver: the archive bucket, the signing key, and each org's chain head in the coverage table.

The chain head (``shard=_archive``, ``session=head#<org>``) holds the last manifest's sequence, SHA-256, key and
bytes. A manifest joins the chain in one DynamoDB transaction that moves the head from n to n+1 and writes a marker
for what it covers (``chained#<segment or window>``), so two archivers never take one sequence number and a retried
batch never chains a segment twice. The manifest object is written after the transaction; a crash in between is
mended by the next append, which writes the head's manifest when the bucket does not hold it yet.
"""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import boto3
from botocore.exceptions import ClientError

from evidence.archive import (
    PUBLIC_KEY_OBJECT,
    SIGNING_ALGORITHM,
    manifest_body,
    manifest_file,
    manifest_key,
    sha256,
    statement,
)
from functions.secrets_store import RETRIES

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_kms import KMSClient
    from mypy_boto3_s3 import S3Client

CHAIN_PARTITION = "_archive"


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def dynamodb_client() -> Any:
    """For the events table's read side (evidence/queries.py takes a client)."""
    return boto3.client("dynamodb", config=RETRIES)


class ArchiveBucket:
    """Segments and manifests in the Object Lock bucket; its default retention locks each version as it is written."""

    def __init__(self, bucket: str, client: Any | None = None) -> None:
        self._s3: S3Client = client or boto3.client("s3", config=RETRIES)
        self.bucket = bucket

    def put(self, key: str, data: bytes, content_type: str) -> str | None:
        """Write a version; its id (None where the bucket is not versioned). S3 checks the SHA-256 it is sent."""
        done = self._s3.put_object(
            Bucket=self.bucket, Key=key, Body=data, ContentType=content_type, ChecksumAlgorithm="SHA256"
        )
        return done.get("VersionId")

    def put_once(self, key: str, data: bytes) -> bool:
        """Write ``key`` unless it exists (S3 conditional write); False when it already did."""
        try:
            self._s3.put_object(
                Bucket=self.bucket,
                Key=key,
                Body=data,
                ContentType="application/json",
                ChecksumAlgorithm="SHA256",
                IfNoneMatch="*",
            )
        except ClientError as exc:
            if _code(exc) in ("PreconditionFailed", "412", "ConditionalRequestConflict"):
                return False
            raise
        return True

    def exists(self, key: str) -> bool:
        try:
            self._s3.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if _code(exc) in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return True


class Signer:
    """ECDSA P-256 signatures from the KMS key (MessageType RAW: KMS hashes the short statement with SHA-256)."""

    def __init__(self, key_id: str, client: Any | None = None) -> None:
        self._kms: KMSClient = client or boto3.client("kms", config=RETRIES)
        self.key_id = key_id

    def sign(self, message: bytes) -> bytes:
        done = self._kms.sign(KeyId=self.key_id, Message=message, MessageType="RAW", SigningAlgorithm=SIGNING_ALGORITHM)
        return bytes(done["Signature"])

    def public_key_pem(self) -> bytes:
        der = self._kms.get_public_key(KeyId=self.key_id)["PublicKey"]
        lines = base64.encodebytes(der).decode().replace("\n", "")
        wrapped = "\n".join(lines[i : i + 64] for i in range(0, len(lines), 64))
        return f"-----BEGIN PUBLIC KEY-----\n{wrapped}\n-----END PUBLIC KEY-----\n".encode()


@dataclass(frozen=True)
class Head:
    sequence: int
    sha256: str | None
    key: str | None
    data: bytes | None


class Chain:
    """Appends manifests to an org's chain, once per subject (a segment's name, a judged window)."""

    def __init__(
        self,
        table: str,
        bucket: ArchiveBucket,
        signer: Signer,
        clock: Callable[[], float],
        client: Any | None = None,
    ) -> None:
        self._dynamodb: DynamoDBClient = client or boto3.client("dynamodb", config=RETRIES)
        self._table = table
        self._bucket = bucket
        self._signer = signer
        self._clock = clock
        self._published_key = False

    def head(self, org: str) -> Head:
        found = self._dynamodb.get_item(
            TableName=self._table,
            Key={"shard": {"S": CHAIN_PARTITION}, "session": {"S": f"head#{org}"}},
            ConsistentRead=True,
        ).get("Item")
        if not found:
            return Head(0, None, None, None)
        return Head(int(found["sequence"]["N"]), found["sha256"]["S"], found["key"]["S"], found["manifest"]["B"])

    def chained(self, org: str, subject: str) -> bool:
        found = self._dynamodb.get_item(
            TableName=self._table,
            Key={"shard": {"S": CHAIN_PARTITION}, "session": {"S": f"chained#{org}#{subject}"}},
            ConsistentRead=True,
        )
        return "Item" in found

    def append(self, org: str, subject: str, content: dict[str, Any]) -> str | None:
        """The manifest's key, or None when ``subject`` is already chained (a retried batch)."""
        self._publish_key()
        while True:
            head = self.head(org)
            self._mend(head)
            if self.chained(org, subject):
                return None
            now = self._clock()
            sequence = head.sequence + 1
            body = manifest_body(org, sequence, head.sha256, now, content)
            data = manifest_file(body, self._signer.key_id, self._signer.sign(statement(body)))
            key = manifest_key(org, sequence, now)
            outcome = self._take(org, subject, head, sequence, key, data)
            if outcome == "taken":
                self._bucket.put_once(key, data)
                return key
            if outcome == "chained":
                return None
            # another archiver moved the head first: build on its manifest

    def _take(self, org: str, subject: str, head: Head, sequence: int, key: str, data: bytes) -> str:
        marker = {
            "Put": {
                "TableName": self._table,
                "Item": {
                    "shard": {"S": CHAIN_PARTITION},
                    "session": {"S": f"chained#{org}#{subject}"},
                    "sequence": {"N": str(sequence)},
                    "key": {"S": key},
                },
                "ConditionExpression": "attribute_not_exists(#s)",
                "ExpressionAttributeNames": {"#s": "shard"},
            }
        }
        moved = {
            "Put": {
                "TableName": self._table,
                "Item": {
                    "shard": {"S": CHAIN_PARTITION},
                    "session": {"S": f"head#{org}"},
                    "sequence": {"N": str(sequence)},
                    "sha256": {"S": sha256(data)},
                    "key": {"S": key},
                    "manifest": {"B": data},
                    "written_at": {"S": dt.datetime.now(dt.UTC).isoformat()},
                },
                "ConditionExpression": "attribute_not_exists(#s)" if head.sequence == 0 else "#q = :q",
                "ExpressionAttributeNames": {"#s": "shard"} if head.sequence == 0 else {"#q": "sequence"},
                **({} if head.sequence == 0 else {"ExpressionAttributeValues": {":q": {"N": str(head.sequence)}}}),
            }
        }
        try:
            self._dynamodb.transact_write_items(TransactItems=[marker, moved])  # type: ignore[list-item]
        except ClientError as exc:
            if _code(exc) != "TransactionCanceledException":
                raise
            reasons = [r.get("Code") for r in exc.response.get("CancellationReasons", [])]
            return "chained" if reasons and reasons[0] == "ConditionalCheckFailed" else "moved"
        return "taken"

    def _mend(self, head: Head) -> None:
        """The head's manifest in the bucket: written after its transaction, so a crash can leave it unwritten."""
        if head.key and head.data is not None and not self._bucket.exists(head.key):
            self._bucket.put_once(head.key, head.data)

    def _publish_key(self) -> None:
        """The public key beside the archive, once per container (an unchanged rewrite is harmless)."""
        if not self._published_key:
            self._bucket.put_once(PUBLIC_KEY_OBJECT, self._signer.public_key_pem())
            self._published_key = True
