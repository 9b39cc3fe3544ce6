"""Adapter over Secrets Manager for the minter: read a secret string, write a new version idempotently."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient

RETRIES = Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=5, read_timeout=10)


def new_secrets_client() -> SecretsManagerClient:
    return boto3.client("secretsmanager", config=RETRIES)


class SecretsStore:
    def __init__(self, client: Any | None = None) -> None:
        self._client: SecretsManagerClient = client or new_secrets_client()

    def read(self, name: str) -> str | None:
        """The AWSCURRENT string, or None when the secret has no value yet."""
        try:
            response = self._client.get_secret_value(SecretId=name)
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ResourceNotFoundException":
                return None
            raise
        return response.get("SecretString")

    def write(self, name: str, value: str, request_token: str) -> bool:
        """Write a new AWSCURRENT version. False when this request token already made a version (idempotent)."""
        try:
            self._client.put_secret_value(SecretId=name, SecretString=value, ClientRequestToken=request_token)
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ResourceExistsException":
                return False
            raise
        return True
