"""Configuration checks shared by every entry point: one wording for invalid values."""

from __future__ import annotations

from pydantic import ValidationError

from genesys.regions import resolve_hosts


def known_environment(value: str) -> str:
    """A region domain or a base URL; raises UnknownRegionError (a ValueError) naming the known domains."""
    resolve_hosts(value, env={})
    return value


def describe(exc: ValidationError, prefix: str = "") -> str:
    """``prefix.field.sub: message; ...`` for every problem pydantic found."""
    return "; ".join(f"{prefix}{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
