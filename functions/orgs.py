"""Org configuration shared by the mint and vend functions, parsed from the ORGS environment variable."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from genesys.validation import describe, known_environment


class ConfigError(ValueError):
    """A configuration value is missing or invalid; the message names it."""


class SamlConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    credentials_secret: str = Field(min_length=1, description="secret holding the SAML2BEARER client id/secret")
    org_name: str = Field(min_length=1, description="Genesys org name sent as orgName")


class OrgConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    environment: str = Field(description="region domain such as mypurecloud.ie, or a local base URL")
    credentials_secret: str = Field(min_length=1)
    token_secret: str = Field(min_length=1)
    saml: SamlConfig | None = None

    _environment = field_validator("environment")(known_environment)


def parse_orgs(env: Mapping[str, str] | None = None) -> dict[str, OrgConfig]:
    env = os.environ if env is None else env
    raw = env.get("ORGS")
    if not raw:
        raise ConfigError("ORGS is not set: expected a JSON list of org objects")
    try:
        items = json.loads(raw)
    except ValueError:
        raise ConfigError("ORGS is not valid JSON") from None
    if not isinstance(items, list) or not items:
        raise ConfigError("ORGS must be a non-empty JSON list")
    try:
        orgs = [OrgConfig.model_validate(item) for item in items]
    except ValidationError as exc:
        raise ConfigError(f"ORGS is invalid: {describe(exc)}") from None
    names = [o.name for o in orgs]
    if len(set(names)) != len(names):
        raise ConfigError("ORGS has duplicate org names")
    return {o.name: o for o in orgs}


def env_float(env: Mapping[str, str], name: str, default: float, *, minimum: float = 0.0) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name} must be >= {minimum}, got {value}")
    return value


def env_items(keys: tuple[str, ...], env: Mapping[str, str] | None = None) -> tuple[tuple[str, str], ...]:
    """The configuration-relevant part of the environment, hashable: warm containers rebuild only on change."""
    env = os.environ if env is None else env
    return tuple((k, env[k]) for k in keys if k in env)
