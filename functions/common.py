"""What every Lambda handler shares: observability, a typed environment, and a runtime built once per configuration.

A handler module declares ``runtime = RuntimeCache(MyEnv, MyRuntime)``; each invocation calls ``runtime()``, which
builds the runtime on the first call of a container and again only when its environment changed.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Generic, TypeVar

from aws_lambda_powertools import Logger, Metrics, Tracer
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, Json

from functions.orgs import OrgConfig
from genesys.observability import metrics_namespace, quiet_sdk_loggers
from genesys.validation import validated

EnvT = TypeVar("EnvT", bound="FunctionEnv")
RuntimeT = TypeVar("RuntimeT")
# variables that change what a runtime talks to without being part of its model
ENDPOINT_VARIABLES = ("AWS_ENDPOINT_URL", "GENESYS_API_URL", "GENESYS_LOGIN_URL")


@dataclass(frozen=True)
class Observability:
    logger: Logger
    tracer: Tracer
    metrics: Metrics


def observability(service: str) -> Observability:
    """Powertools Logger, Tracer and Metrics for one function, with SDK loggers pinned quiet first."""
    quiet_sdk_loggers()
    return Observability(
        logger=Logger(service=service),
        tracer=Tracer(service=service),
        metrics=Metrics(service=service, namespace=metrics_namespace()),
    )


def _unique_names(orgs: tuple[OrgConfig, ...]) -> tuple[OrgConfig, ...]:
    names = [o.name for o in orgs]
    if len(set(names)) != len(names):
        raise ValueError("duplicate org names")
    return orgs


Orgs = Annotated[Json[tuple[OrgConfig, ...]], Field(min_length=1), AfterValidator(_unique_names)]


class FunctionEnv(BaseModel):
    """A function's environment: each field is read from the variable of its name in upper case."""

    model_config = ConfigDict(extra="ignore", frozen=True, alias_generator=str.upper, populate_by_name=True)

    @classmethod
    def variables(cls) -> tuple[str, ...]:
        return tuple(str(f.alias) for f in cls.model_fields.values())


class OrgsEnv(FunctionEnv):
    """The token functions' environment: the orgs (one entry per OAuth client for the minter)."""

    orgs: Orgs = Field(description="JSON list of org objects")


def load_env(model: type[EnvT], env: Mapping[str, str] | None = None) -> EnvT:
    """The environment parsed into ``model``; a ConfigError naming the variables otherwise."""
    env = os.environ if env is None else env
    present = {k: v for k, v in env.items() if k in model.variables() and v != ""}
    return validated(model, present, "environment")


class RuntimeCache(Generic[EnvT, RuntimeT]):
    """Build ``factory(env)`` once per container; rebuild only when one of its variables changes."""

    def __init__(self, model: type[EnvT], factory: Callable[[EnvT], RuntimeT]) -> None:
        self._model = model
        self._factory = factory
        self._key: tuple[tuple[str, str], ...] | None = None
        self._value: RuntimeT | None = None

    def __call__(self) -> RuntimeT:
        keys = (*self._model.variables(), *ENDPOINT_VARIABLES)
        key = tuple((k, os.environ[k]) for k in keys if k in os.environ)
        if self._value is None or key != self._key:
            self._value = self._factory(load_env(self._model))
            self._key = key
        return self._value

    def cache_clear(self) -> None:
        self._key, self._value = None, None
