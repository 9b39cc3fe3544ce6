"""Names and resources of the local stack: tables, bucket and secrets, built from the CDK app's own layouts."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import boto3

from emulator.config import DEFAULT_CLIENT
from evidence.schema import COVERAGE, EVENTS, create_table_kwargs
from functions.orgs import OrgConfig
from genesys.observability import quiet_sdk_loggers
from genesys.token_secret import credentials_secret_name, token_secret_name
from stream_worker.settings import worker_environment


@dataclass(frozen=True)
class StackNames:
    events_table: str = "genesys-events"
    coverage_table: str = "genesys-coverage"
    payload_bucket: str = "genesys-event-payloads"
    org: str = "local"

    @property
    def token_secret(self) -> str:
        return token_secret_name(self.org)

    @property
    def credentials_secret(self) -> str:
        return credentials_secret_name(self.org)


def create_resources(
    names: StackNames, client_id: str = DEFAULT_CLIENT[0], client_secret: str = DEFAULT_CLIENT[1]
) -> None:
    """Tables, bucket and secrets in whatever AWS endpoint boto3 is pointed at (AWS_ENDPOINT_URL)."""
    quiet_sdk_loggers()  # botocore at DEBUG would log the client secret this writes
    dynamodb = boto3.client("dynamodb")
    for table, layout in ((names.events_table, EVENTS), (names.coverage_table, COVERAGE)):
        dynamodb.create_table(**create_table_kwargs(table, layout))  # type: ignore[arg-type]
    boto3.client("s3").create_bucket(Bucket=names.payload_bucket)
    secrets = boto3.client("secretsmanager")
    secrets.create_secret(
        Name=names.credentials_secret, SecretString=json.dumps({"client_id": client_id, "client_secret": client_secret})
    )
    secrets.create_secret(Name=names.token_secret)


def worker_env(names: StackNames, environment: str, topics: list[str], **settings: Any) -> dict[str, str]:
    """Environment variables for ``python -m stream_worker`` against the local stack."""
    org = {"name": names.org, "environment": environment, "token_secret": names.token_secret, "topics": topics}
    return worker_environment(
        orgs=[org],
        events_table=names.events_table,
        coverage_table=names.coverage_table,
        payload_bucket=names.payload_bucket,
        **settings,
    )


def org_config(names: StackNames, environment: str) -> OrgConfig:
    return OrgConfig(
        name=names.org,
        environment=environment,
        credentials_secret=names.credentials_secret,
        token_secret=names.token_secret,
    )
