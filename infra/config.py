"""Deployment configuration from cdk.json context and ``-c`` values, validated at synth with clear errors."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator, model_validator

from functions.vend_token.access import AccessPolicy
from genesys.notifications import MAX_CHANNELS_PER_CLIENT
from genesys.observability import DEFAULT_METRICS_NAMESPACE
from genesys.org_config import OrgTopics, TopicSelection
from genesys.regions import REGION_DOMAINS
from genesys.token_secret import token_secret_name
from genesys.topics import detail_type, expand_combined
from genesys.validation import ConfigError, validated
from stream_worker.settings import WorkerSettings
from stream_worker.sharding import Shard, plan_shards, split_into_shards

__all__ = ["BridgeConfig", "ConfigError", "Org", "load_config"]
_IMPORTED = "import an existing secret by name; else one is created"


class SamlClient(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
    org_name: str = Field(min_length=1, description="the Genesys org name sent as orgName")
    credentials_secret: str | None = Field(
        None, validation_alias=AliasChoices("credentials_secret", "credentials_secret_name"), description=_IMPORTED
    )


class EventBridgeSource(BaseModel):
    """Genesys' "Amazon EventBridge Source" integration of an org: the partner event source it created."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    event_source_name: str = Field(
        pattern=r"^aws\.partner/genesys\.com/cloud/[0-9a-fA-F-]{1,64}/[A-Za-z0-9._-]{1,64}$",
        description="aws.partner/genesys.com/cloud/<org id>/<suffix>, as the integration names it",
    )
    all_topics: bool = Field(False, description="take every event of the source, not only the org's topics")


class ClientConfig(BaseModel):
    """One Genesys OAuth client (client credentials): its own secrets and its own 20 channels."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
    name: str = Field(min_length=1, pattern=r"^[a-z0-9-]+$", max_length=24)
    credentials_secret: str | None = Field(
        None, validation_alias=AliasChoices("credentials_secret", "credentials_secret_name"), description=_IMPORTED
    )


class Org(TopicSelection):
    """An org as deployed: the shared topic selection, a region domain, and the secrets to create or import.

    ``clients`` is the org's pool of OAuth clients; topics beyond what one client's channels carry go to the next.
    The first client's secrets keep the org-level names (``credentials_secret_name`` on the org names its import).
    """

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
    name: str = Field(min_length=1, pattern=r"^[a-z0-9-]+$", max_length=32)
    environment: str = Field(
        validation_alias=AliasChoices("region", "environment"), description="Genesys region domain, e.g. mypurecloud.ie"
    )
    credentials_secret: str | None = Field(
        None, validation_alias=AliasChoices("credentials_secret", "credentials_secret_name"), description=_IMPORTED
    )
    saml: SamlClient | None = None
    eventbridge: EventBridgeSource | None = None
    clients: tuple[ClientConfig, ...] = Field((ClientConfig(name="primary"),), min_length=1)

    @model_validator(mode="after")
    def _distinct_clients(self) -> Org:
        if len({c.name for c in self.clients}) != len(self.clients):
            raise ValueError(f"org {self.name}: client names must be unique")
        return self

    @field_validator("environment")
    @classmethod
    def _region(cls, value: str) -> str:
        if value not in REGION_DOMAINS:  # a deployment talks to a real region, never a local URL
            raise ValueError(
                f"unknown Genesys region domain {value!r}; expected one of {', '.join(sorted(REGION_DOMAINS))}"
            )
        return value

    @property
    def token_secret(self) -> str:
        return token_secret_name(self.name)

    @model_validator(mode="after")
    def _eventbridge_matches_every_topic(self) -> Org:
        """With the EventBridge path on, a topic its rule would not match has no backstop, silently: refused."""
        if self.eventbridge is None or self.eventbridge.all_topics:
            return self
        unmatched = [t for t in self._concrete_topics() if detail_type(t) is None]
        if unmatched:
            shown = ", ".join(unmatched[:5]) + (f" and {len(unmatched) - 5} more" if len(unmatched) > 5 else "")
            raise ValueError(
                f"org {self.name}: no EventBridge rule would match {shown}: its detail-type is unknown to this bridge. "
                "Set eventbridge.all_topics: true to take every event of the source, or drop the topic"
            )
        return self

    def _concrete_topics(self) -> list[str]:
        """Every topic, combined ones (``v2.users.X?presence&routingStatus``) as the topics they stand for."""
        return list(dict.fromkeys(t for topic in self.all_topics() for t in expand_combined(topic)))

    def detail_types(self) -> list[str]:
        """The EventBridge detail-types of the org's topics (topic templates, every parameter as {id})."""
        return sorted({kind for kind in (detail_type(t) for t in self._concrete_topics()) if kind})

    def worker_org(self) -> OrgTopics:
        return OrgTopics(
            name=self.name,
            environment=self.environment,
            token_secret=self.token_secret,
            topics=self.topics,
            templates=self.templates,
        )


@dataclass(frozen=True, slots=True)
class WorkerGroup:
    """One OAuth client of an org with the shards it carries: one ECS service, one minted token, 20 channels."""

    org: Org
    index: int  # the client's place in the org's pool
    shards: tuple[Shard, ...]

    @property
    def client(self) -> ClientConfig:
        return self.org.clients[self.index]

    @property
    def name(self) -> str:
        """``acme`` for the first client (as the single-client layout always was), ``acme.<client>`` after."""
        return self.org.name if self.index == 0 else f"{self.org.name}.{self.client.name}"

    @property
    def construct_id(self) -> str:
        return self.name.replace(".", "-")

    @property
    def token_secret(self) -> str:
        return token_secret_name(self.name.replace(".", "/"))

    @property
    def credentials_secret(self) -> str | None:
        """The secret to import, or None when the stack creates it."""
        return self.client.credentials_secret or (self.org.credentials_secret if self.index == 0 else None)

    def worker_org(self) -> OrgTopics:
        """The worker's view: this group's topics only, its shards numbered as in the org's plan."""
        return OrgTopics(
            name=self.org.name,
            environment=self.org.environment,
            token_secret=self.token_secret,
            topics=tuple(t for shard in self.shards for t in shard.topics),
            first_shard=int(self.shards[0].id.rpartition(":")[2]) if self.shards else 0,
        )


@dataclass(frozen=True, slots=True)
class Deployment:
    """ECS deployment percentages, and how many tasks of the service can run at once during a deploy."""

    min_healthy_percent: int
    max_healthy_percent: int
    max_tasks: int


def deployment_for(replicas: int) -> Deployment:
    """Coverage never drops to zero during a deploy, and the task count never exceeds what the budget allows.

    One replica: start the new task before stopping the old (two tasks for a while). Two or more: replace half at a
    time without starting extra tasks, so at least half keep streaming and never more than ``replicas`` exist.
    """
    if replicas == 1:
        return Deployment(min_healthy_percent=100, max_healthy_percent=200, max_tasks=2)
    return Deployment(min_healthy_percent=50, max_healthy_percent=100, max_tasks=replicas)


class ArchiveConfig(BaseModel):
    """The write-once archive: every stored item, in signed and chained segments, in an S3 Object Lock bucket."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    enabled: bool = Field(True, description="archive the events table's stream; off leaves the table the only copy")
    mode: Literal["compliance", "governance"] = Field(
        "compliance",
        description="Object Lock mode: compliance (nobody, root included, can shorten or remove it) or governance "
        "(principals with s3:BypassGovernanceRetention can: for test stacks)",
    )
    retention_days: int = Field(
        2557, ge=1, le=36_500, description="how long each archived version is locked; 2557 days is seven years"
    )


class Idp(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    issuer: str = Field(pattern=r"^https://", description="OIDC issuer URL of the IdP (Okta, Entra ID, Cognito, ...)")
    audience: tuple[str, ...] = Field(min_length=1)


FARGATE_VCPU = (0.25, 0.5, 1, 2, 4)  # Fargate task sizes (a vCPU count); larger ones need more memory than needed


class BridgeConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    orgs: tuple[Org, ...] = Field(min_length=1)
    idp: Idp
    access_policy: dict[str, Any]
    alarm_email: str = Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    worker_replicas: int = Field(
        2, ge=1, le=4, description="active-active tasks per group, spread over AZs; 2 survives a task or AZ loss"
    )
    worker_vcpu: float = Field(
        0.5, description="Fargate vCPU per worker task: 0.25, 0.5, 1, 2 or 4; each whole vCPU runs a writer process"
    )
    mint_schedule_minutes: int = Field(5, ge=1, le=60)
    token_rotation_lead_seconds: int = Field(600, ge=60)
    sockets_per_shard: int | None = Field(
        None,
        ge=1,
        le=4,
        description="per task; default 1 with two or more replicas (still 2 per shard fleet-wide), else 2",
    )
    shard_size: int = Field(1000, ge=1, le=1000)
    channel_budget: int | None = Field(
        None, ge=2, le=20, description="channels per task; default Genesys' 20 shared by the tasks of a deploy"
    )
    event_ttl_days: int | None = Field(
        None, ge=1, description="off by default: audit evidence is kept; with the archive on it can be short (e.g. 90)"
    )
    archive: ArchiveConfig = Field(ArchiveConfig(), description="S3 Object Lock archive with signed manifests")
    vend_min_remaining_seconds: int = Field(300, ge=60)
    vend_rate_limit: int = Field(100, ge=1, description="steady requests per second on the vend API")
    vend_burst_limit: int = Field(200, ge=1)
    log_retention_days: int = Field(365, ge=1)
    metrics_namespace: str = DEFAULT_METRICS_NAMESPACE

    @field_validator("worker_vcpu")
    @classmethod
    def _fargate_size(cls, value: float) -> float:
        if value not in FARGATE_VCPU:
            raise ValueError(f"Fargate runs tasks of {', '.join(str(v) for v in FARGATE_VCPU)} vCPU, not {value}")
        return value

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
        self.groups()  # raises when the topics need more OAuth clients than the org lists
        return self

    @property
    def sockets(self) -> int:
        return self.sockets_per_shard or (1 if self.worker_replicas >= 2 else 2)

    @property
    def shards_per_client(self) -> int:
        """Worst case, a deploy runs ``max_tasks`` tasks, each with (sockets + 1 rotating) channels per shard."""
        return MAX_CHANNELS_PER_CLIENT // (self.deployment.max_tasks * (self.sockets + 1))

    @property
    def task_channel_budget(self) -> int:
        return self.channel_budget or MAX_CHANNELS_PER_CLIENT // self.deployment.max_tasks

    def groups(self) -> list[WorkerGroup]:
        """Topics into shards (the worker's own planning), shards into clients in order: appending topics never
        moves a shard, and shard ids (which key the ledger) never change."""
        per_client = self.shards_per_client
        if per_client < 1:
            raise ValueError(
                f"{self.deployment.max_tasks} tasks during a deploy x ({self.sockets} sockets + 1 rotating) per shard "
                f"exceed Genesys' {MAX_CHANNELS_PER_CLIENT} channels per OAuth client: lower worker_replicas or "
                "sockets_per_shard"
            )
        groups: list[WorkerGroup] = []
        planned = self.shards()
        for org in self.orgs:
            shards = [s for s in planned if s.org.name == org.name]
            needed = -(-len(shards) // per_client)
            if needed > len(org.clients):
                raise ValueError(
                    f"org {org.name}: {len(org.all_topics())} topics make {len(shards)} shard(s) of at most "
                    f"{self.shard_size}; with {self.deployment.max_tasks} tasks during a deploy and {self.sockets} "
                    f"socket(s) per shard one OAuth client carries {per_client} shard(s) within Genesys' "
                    f"{MAX_CHANNELS_PER_CLIENT} channels, so the topics need {needed} OAuth clients: list {needed} "
                    f"in clients (it lists {len(org.clients)})"
                )
            for index in range(needed):
                group = WorkerGroup(org, index, tuple(shards[index * per_client : (index + 1) * per_client]))
                plan_shards(self.group_settings(group))  # the group's worker accepts its own plan
                groups.append(group)
        return groups

    @property
    def deployment(self) -> Deployment:
        return deployment_for(self.worker_replicas)

    def worker_values(self) -> dict[str, Any]:
        """The deployment-wide worker settings, by field name (the construct adds the resource names)."""
        return {
            "orgs": [o.worker_org().model_dump(mode="json") for o in self.orgs],
            "shard_size": self.shard_size,
            "sockets_per_shard": self.sockets,
            "channel_budget": MAX_CHANNELS_PER_CLIENT,  # the whole org's plan; each group's task gets its share
            "token_rotation_lead": self.token_rotation_lead_seconds,
            "event_ttl_days": self.event_ttl_days,
            # boto3 costs ~1 ms of CPU per put under the GIL: one writer process per whole vCPU uses them all
            "write_processes": max(1, int(self.worker_vcpu)),
        }

    @property
    def worker_task_size(self) -> tuple[int, int]:
        """Fargate (cpu units, memory MiB): 2 GiB per vCPU, at least 1 GiB (a valid Fargate pair for each size)."""
        return int(self.worker_vcpu * 1024), max(1024, int(self.worker_vcpu * 2048))

    def worker_settings(self) -> WorkerSettings:
        """What the worker will run with: validated by the worker's own model at synth."""
        return _synth_settings(self.worker_values())

    @property
    def required_token_life(self) -> float:
        return self.worker_settings().required_token_life

    def shards(self) -> list[Shard]:
        """The worker's own sharding of every org, so alarms exist for exactly the shards the fleet runs."""
        return split_into_shards(self.worker_settings())

    def group_values(self, group: WorkerGroup) -> dict[str, Any]:
        """One group's worker settings, by field name: its client's token, its shards, its share of channels."""
        return {
            **self.worker_values(),
            "orgs": [group.worker_org().model_dump(mode="json")],
            "channel_budget": self.task_channel_budget,
        }

    def group_settings(self, group: WorkerGroup) -> WorkerSettings:
        return _synth_settings(self.group_values(group))


def _synth_settings(values: dict[str, Any]) -> WorkerSettings:
    """Worker settings at synth: the resource names are tokens until deploy, so placeholders stand in for them."""
    placeholders = {"events_table": "-", "coverage_table": "-", "payload_bucket": "-"}
    return WorkerSettings.model_validate({**values, **placeholders})


EXAMPLE_DOMAINS = ("example.com", "example.org", "example.net", "example.test")  # RFC 2606 / 6761


def example_values(config: BridgeConfig) -> list[str]:
    """Values still as in the shipped example: deploying them would send alarms and trust tokens nowhere real."""
    found = []
    issuer_host = config.idp.issuer.removeprefix("https://").split("/")[0]
    email_domain = config.alarm_email.rpartition("@")[2]
    for key, host in (("bridge.idp.issuer", issuer_host), ("bridge.alarm_email", email_domain)):
        if any(host == d or host.endswith(f".{d}") for d in EXAMPLE_DOMAINS):
            found.append(key)
    return found


def load_config(context: dict[str, Any], *, allow_example: bool = False) -> BridgeConfig:
    config = _parse(context)
    examples = example_values(config)
    if examples and not allow_example:
        raise ConfigError(
            f"{', '.join(examples)} still hold example values: put your IdP issuer and on-call e-mail in the bridge "
            "context (or pass -c allow_example=true to synth the example as it is, never to deploy it)"
        )
    return config


def _parse(context: dict[str, Any]) -> BridgeConfig:
    raw = context.get("bridge")
    if raw is None:
        raise ConfigError('cdk.json context has no "bridge" object (see README: Deploy)')
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            raise ConfigError("-c bridge=... is not valid JSON") from None
    try:
        return validated(BridgeConfig, raw, "deployment configuration", prefix="bridge.")
    except ConfigError:
        raise
    except ValueError as exc:
        raise ConfigError(f"invalid deployment configuration: {exc}") from None
