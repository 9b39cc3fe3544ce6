"""Deployment configuration from cdk.json context and ``-c`` values, validated at synth with clear errors."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from functions.vend_token.access import AccessPolicy
from genesys.regions import REGION_DOMAINS
from genesys.validation import describe
from stream_worker.settings import OrgTopics, WorkerSettings
from stream_worker.sharding import Shard, plan_shards


class ConfigError(ValueError):
    """The deployment configuration is invalid; the message names the context key."""


class TemplateIds(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    template: str
    ids: tuple[str, ...] = Field(min_length=1)


class SamlClient(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    org_name: str = Field(min_length=1, description="the Genesys org name sent as orgName")
    credentials_secret_name: str | None = Field(None, description="import an existing secret; else one is created")


class Org(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str = Field(min_length=1, pattern=r"^[a-z0-9-]+$", max_length=32)
    region: str = Field(description="Genesys region domain, e.g. mypurecloud.ie")
    credentials_secret_name: str | None = Field(None, description="import an existing secret; else one is created")
    topics: tuple[str, ...] = ()
    templates: tuple[TemplateIds, ...] = ()
    saml: SamlClient | None = None

    @field_validator("region")
    @classmethod
    def _region(cls, value: str) -> str:
        if value not in REGION_DOMAINS:
            raise ValueError(
                f"unknown Genesys region domain {value!r}; expected one of {', '.join(sorted(REGION_DOMAINS))}"
            )
        return value


class Idp(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    issuer: str = Field(pattern=r"^https://", description="OIDC issuer URL of the IdP (Okta, Entra ID, Cognito, ...)")
    audience: tuple[str, ...] = Field(min_length=1)


class BridgeConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    orgs: tuple[Org, ...] = Field(min_length=1)
    idp: Idp
    access_policy: dict[str, Any]
    alarm_email: str = Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    worker_replicas: int = Field(
        1, ge=1, le=2, description="2 tolerates a task crash; more would exceed channel limits"
    )
    mint_schedule_minutes: int = Field(5, ge=1, le=60)
    token_rotation_lead_seconds: int = Field(600, ge=60)
    sockets_per_shard: int = Field(2, ge=1, le=4)
    shard_size: int = Field(1000, ge=1, le=1000)
    channel_budget: int = Field(10, ge=2, le=20)
    event_ttl_days: int | None = Field(None, ge=1, description="off by default: audit evidence is kept")
    vend_min_remaining_seconds: int = Field(300, ge=60)
    vend_rate_limit: int = Field(100, ge=1, description="steady requests per second on the vend API")
    vend_burst_limit: int = Field(200, ge=1)
    log_retention_days: int = Field(365, ge=1)
    metrics_namespace: str = "GenesysNotificationBridge"

    @field_validator("access_policy")
    @classmethod
    def _policy(cls, value: dict[str, Any]) -> dict[str, Any]:
        AccessPolicy.from_json(json.dumps(value))  # the vend function's own parser: one definition of valid
        return value

    @model_validator(mode="after")
    def _fits(self) -> BridgeConfig:
        if len({o.name for o in self.orgs}) != len(self.orgs):
            raise ValueError("org names must be unique")
        for org in self.orgs:
            if not org.topics and not org.templates:
                raise ValueError(f"org {org.name} follows no topics")
        if self.worker_replicas * self.channel_budget > 20:
            raise ValueError(
                f"worker_replicas x channel_budget = {self.worker_replicas * self.channel_budget}, over Genesys' "
                "20 channels per OAuth client (a deploy runs two tasks side by side)"
            )
        self.shards()  # raises when the topics do not fit the channel budget
        return self

    @property
    def required_token_life(self) -> int:
        return 2 * self.token_rotation_lead_seconds

    def worker_orgs(self, token_secret_names: dict[str, str]) -> list[dict[str, Any]]:
        return [
            {
                "name": org.name,
                "environment": org.region,
                "token_secret": token_secret_names[org.name],
                "topics": list(org.topics),
                "templates": [t.model_dump() for t in org.templates],
            }
            for org in self.orgs
        ]

    def shards(self) -> list[Shard]:
        """The worker's own sharding, so alarms exist for exactly the shards the worker will run."""
        settings = WorkerSettings(
            orgs=tuple(OrgTopics.model_validate(o) for o in self.worker_orgs({o.name: "-" for o in self.orgs})),
            events_table="-",
            coverage_table="-",
            payload_bucket="-",
            shard_size=self.shard_size,
            sockets_per_shard=self.sockets_per_shard,
            channel_budget=self.channel_budget,
        )
        return plan_shards(settings)


def load_config(context: dict[str, Any]) -> BridgeConfig:
    raw = context.get("bridge")
    if raw is None:
        raise ConfigError('cdk.json context has no "bridge" object (see README: Deploy)')
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            raise ConfigError("-c bridge=... is not valid JSON") from None
    try:
        return BridgeConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"invalid deployment configuration: {describe(exc, 'bridge.')}") from None
    except ValueError as exc:
        raise ConfigError(f"invalid deployment configuration: {exc}") from None
