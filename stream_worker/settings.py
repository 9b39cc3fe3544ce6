"""Worker configuration from environment variables, parsed into a typed model (exit code 2 when invalid)."""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from genesys.org_config import OrgTopics
from genesys.validation import ConfigError, validated
from stream_worker import health

__all__ = ["ENV_NAMES", "ConfigError", "OrgTopics", "WorkerSettings", "load_settings", "worker_environment"]


class WorkerSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    orgs: tuple[OrgTopics, ...] = Field(min_length=1)
    events_table: str = Field(min_length=1)
    coverage_table: str = Field(min_length=1)
    payload_bucket: str = Field(min_length=1, description="S3 bucket for envelopes too large for an item")
    shard_size: int = Field(1000, ge=1, le=1000)
    sockets_per_shard: int = Field(2, ge=1, le=4)
    channel_budget: int = Field(10, ge=2, le=20, description="channels in use per OAuth client")
    token_rotation_lead: float = Field(600, gt=0)
    channel_rotation_lead: float = Field(600, gt=0)
    min_token_life: float | None = Field(None, gt=0, description="default: 2 x token_rotation_lead")
    ping_after: float = Field(35, gt=0, description="send a ping after this long without a frame")
    liveness_timeout: float = Field(10, gt=0, description="declare a socket dead this long after an unanswered ping")
    confirm_timeout: float = Field(15, gt=0)
    keepalive_interval: float | None = Field(
        None, gt=0, description="websocket protocol pings; off: the session's watchdog is liveness' one owner"
    )
    touch_interval: float = Field(10, gt=0, description="ping at least this often: Genesys sees our channels used")
    delivery_allowance: float = Field(
        1.0, ge=0, description="the ledger claims a socket's coverage until its last frame minus this"
    )
    write_concurrency: int = Field(16, ge=1, le=256, description="puts in progress at once, over all processes")
    write_processes: int = Field(
        1, ge=1, le=16, description="processes making puts: one per vCPU (boto3 costs ~1 ms of CPU per put)"
    )
    queue_max: int = Field(10_000, ge=10)
    dedupe_cache: int = Field(200_000, ge=0, description="event keys remembered at most (0: off)")
    dedupe_window: float = Field(120, gt=0, description="seconds an event key is remembered at most")
    metrics_interval: float = Field(60, gt=0)
    ledger_interval: float = Field(10, gt=0)
    drain_timeout: float = Field(100, gt=0, description="SIGTERM: at most this long to flush writes")
    health_file: str = health.DEFAULT_FILE
    health_max_age: float = Field(health.DEFAULT_MAX_AGE, gt=0)
    worker_id: str = Field(default_factory=lambda: f"{socket.gethostname()}-{os.getpid()}")
    event_ttl_days: int | None = Field(None, ge=1)

    @model_validator(mode="after")
    def _topics_present(self) -> WorkerSettings:
        for org in self.orgs:
            if not org.all_topics():
                raise ValueError(f"org {org.name} has no topics")
        if len({o.name for o in self.orgs}) != len(self.orgs):
            raise ValueError("org names must be unique")
        return self

    @property
    def token_poll_interval(self) -> float:
        """How often a new token is looked for: near expiry, and while there is none at all."""
        return min(5.0, self.token_rotation_lead / 4)

    @property
    def required_token_life(self) -> float:
        return self.min_token_life if self.min_token_life is not None else 2 * self.token_rotation_lead


_JSON_FIELDS = {"orgs"}
ENV_NAMES = {name: ("WORKER_ORGS" if name == "orgs" else name.upper()) for name in WorkerSettings.model_fields}


def worker_environment(**values: Any) -> dict[str, str]:
    """Settings as the environment variables ``load_settings`` reads: the one mapping of field to variable.

    ``None`` becomes an empty value, which ``load_settings`` treats as unset (the default applies).
    """
    unknown = sorted(set(values) - set(ENV_NAMES))
    if unknown:
        raise ConfigError(f"not worker settings: {', '.join(unknown)}")
    env: dict[str, str] = {}
    for field, value in values.items():
        if field in _JSON_FIELDS:
            env[ENV_NAMES[field]] = json.dumps(value)
        else:
            env[ENV_NAMES[field]] = "" if value is None else str(value)
    return env


def load_settings(env: Mapping[str, str] | None = None) -> WorkerSettings:
    env = os.environ if env is None else env
    raw: dict[str, Any] = {}
    for field, var in ENV_NAMES.items():
        if var not in env or env[var] == "":
            continue
        if field in _JSON_FIELDS:
            try:
                raw[field] = json.loads(env[var])
            except ValueError:
                raise ConfigError(f"{var} is not valid JSON") from None
        else:
            raw[field] = env[var]
    return validated(WorkerSettings, raw, "worker configuration", names=ENV_NAMES)
