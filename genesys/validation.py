"""Configuration checks shared by every entry point: one error type and one wording for invalid values."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from genesys.regions import resolve_hosts

ModelT = TypeVar("ModelT", bound=BaseModel)


class ConfigError(ValueError):
    """A configuration value is missing or invalid; the message names it (never a secret's value)."""


def known_environment(value: str) -> str:
    """A region domain or a base URL; raises UnknownRegionError (a ValueError) naming the known domains."""
    resolve_hosts(value, env={})
    return value


def describe(exc: ValidationError, prefix: str = "", names: Mapping[str, str] | None = None) -> str:
    """``prefix.field.sub: message; ...`` for every problem pydantic found (inputs are never echoed).

    ``names`` renames the first location part, e.g. a field to the environment variable it came from.
    """
    problems = []
    for error in exc.errors(include_input=False, include_url=False):
        loc = [str(p) for p in error["loc"]]
        if loc and names:
            loc[0] = names.get(loc[0], loc[0])
        where = f"{prefix}{'.'.join(loc)}"
        problems.append(f"{where}: {error['msg']}" if where else str(error["msg"]))
    return "; ".join(problems)


def validated(
    model: type[ModelT], data: Any, what: str, *, names: Mapping[str, str] | None = None, prefix: str = ""
) -> ModelT:
    """``model.model_validate(data)``, or a ConfigError that says what is wrong where: ``invalid <what>: ...``."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"invalid {what}: {describe(exc, prefix, names)}") from None
