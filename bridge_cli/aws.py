"""The CLI's adapter over AWS: a session from the command line's --profile/--region/--endpoint-url, a deployed
stack's outputs, and what a failure means, in one line that names the fix."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    NoCredentialsError,
    NoRegionError,
    ProfileNotFound,
)

from stream_worker.aws import AWS_CONFIG

CLI_ERRORS = (ClientError, BotoCoreError)


@dataclass(frozen=True)
class Clients:
    dynamodb: Any
    s3: Any
    secrets: Any = None  # Secrets Manager: the cached Genesys token, for a repair by hand


def clients(*, profile: str | None, region: str | None, endpoint_url: str | None) -> Clients:
    session = boto3.session.Session(profile_name=profile, region_name=region)
    return Clients(
        session.client("dynamodb", config=AWS_CONFIG, endpoint_url=endpoint_url),
        session.client("s3", config=AWS_CONFIG, endpoint_url=endpoint_url),
        session.client("secretsmanager", config=AWS_CONFIG, endpoint_url=endpoint_url),
    )


def secret_string(secrets: Any, name: str) -> str:
    """The secret's current string (a token secret: never printed)."""
    value: str = secrets.get_secret_value(SecretId=name)["SecretString"]
    return value


def stack_outputs(stack: str, *, profile: str | None, region: str | None, endpoint_url: str | None) -> dict[str, Any]:
    """The stack's outputs by name (``Shards`` parsed from its JSON)."""
    session = boto3.session.Session(profile_name=profile, region_name=region)
    cloudformation = session.client("cloudformation", config=AWS_CONFIG, endpoint_url=endpoint_url)
    (found,) = cloudformation.describe_stacks(StackName=stack)["Stacks"]
    outputs: dict[str, Any] = {o["OutputKey"]: o["OutputValue"] for o in found.get("Outputs", [])}
    if "Shards" in outputs:
        outputs["Shards"] = json.loads(outputs["Shards"])
    return outputs


def explain(exc: BaseException) -> str:
    """One line: what failed, and what to do about it (never a traceback)."""
    if isinstance(exc, NoRegionError):
        return "no AWS region: pass --region (or set AWS_REGION, or a region in your profile)"
    if isinstance(exc, NoCredentialsError):
        return "no AWS credentials: pass --profile, or set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY"
    if isinstance(exc, ProfileNotFound):
        return f"{exc}: check --profile against ~/.aws/config"
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code, message = error.get("Code", ""), error.get("Message", "")
        if code == "ResourceNotFoundException":
            return f"table not found ({message}): pass --stack NAME, or --events-table/--coverage-table"
        if code == "ValidationError" and "does not exist" in message:
            return f"{message}: check --stack and --region"
        if code in ("AccessDeniedException", "AccessDenied", "UnrecognizedClientException"):
            return f"AWS refused the call ({code}): check the credentials of --profile and their permissions"
        return f"AWS call failed ({code}): {message}"
    return f"AWS call failed: {exc}"


class BucketSource:
    """The archive bucket itself: current objects, and each object's versions (Object Lock keeps every one)."""

    online = True

    def __init__(self, s3: Any, bucket: str) -> None:
        self._s3 = s3
        self._bucket = bucket

    def keys(self, prefix: str) -> list[str]:
        pages = self._s3.get_paginator("list_objects_v2").paginate(Bucket=self._bucket, Prefix=prefix)
        return sorted(o["Key"] for page in pages for o in page.get("Contents", []))

    def read(self, key: str) -> bytes | None:
        try:
            data: bytes = self._s3.get_object(Bucket=self._bucket, Key=key)["Body"].read()
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None
            raise
        return data

    def version_state(self, key: str, version_id: str) -> str | None:
        pages = self._s3.get_paginator("list_object_versions").paginate(Bucket=self._bucket, Prefix=key)
        versions, markers = [], []
        for page in pages:
            versions += [v for v in page.get("Versions", []) if v["Key"] == key]
            markers += [m for m in page.get("DeleteMarkers", []) if m["Key"] == key]
        latest = next((v for v in versions + markers if v.get("IsLatest")), None)
        kept = any(v["VersionId"] == version_id for v in versions)
        if latest is not None and latest["VersionId"] == version_id:
            return None
        if not kept:
            return f"the manifest's version {version_id} is gone"
        if latest is not None and latest in markers:
            return f"deleted: a delete marker hides it (the locked version {version_id} remains)"
        current = latest["VersionId"] if latest else "none"
        return f"overwritten: the current version is {current}, the manifest's is {version_id} (which remains)"
