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


def clients(*, profile: str | None, region: str | None, endpoint_url: str | None) -> Clients:
    session = boto3.session.Session(profile_name=profile, region_name=region)
    return Clients(
        session.client("dynamodb", config=AWS_CONFIG, endpoint_url=endpoint_url),
        session.client("s3", config=AWS_CONFIG, endpoint_url=endpoint_url),
    )


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
