"""Which verified JWT claims and scopes may get a token for which org.

ACCESS_POLICY is JSON: ``{"rules": [{"orgs": ["acme"], "claims": {"groups": ["cc-integrations"]},
"scopes": ["genesys/token"]}]}``. A rule allows a caller when the org is listed (or ``"*"``), every claim named
has at least one of the listed values, and, when scopes are listed, the caller holds at least one of them.
Any allowing rule allows. No rule, no token.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from genesys.validation import ConfigError, describe

_SPACE_SEPARATED = {"scope", "scp"}


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    orgs: tuple[str, ...] = Field(min_length=1)
    claims: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    scopes: tuple[str, ...] = ()

    def allows(self, org: str, claims: Mapping[str, set[str]], scopes: set[str]) -> bool:
        if "*" not in self.orgs and org not in self.orgs:
            return False
        if any(not claims.get(name, set()) & set(values) for name, values in self.claims.items()):
            return False
        return not self.scopes or bool(scopes & set(self.scopes))


class AccessPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    rules: tuple[Rule, ...] = Field(min_length=1)

    @classmethod
    def from_json(cls, raw: str | None) -> AccessPolicy:
        if not raw:
            raise ConfigError('ACCESS_POLICY is not set: expected {"rules": [...]}')
        try:
            return cls.model_validate(json.loads(raw))
        except ValueError as exc:
            detail = describe(exc) if isinstance(exc, ValidationError) else "not valid JSON"
            raise ConfigError(f"ACCESS_POLICY is invalid: {detail}") from None

    def allows(self, org: str, raw_claims: Mapping[str, Any], raw_scopes: Iterable[str] | None) -> bool:
        claims = {name: claim_values(name, value) for name, value in raw_claims.items()}
        scopes = set(raw_scopes or ()) | claims.get("scope", set()) | claims.get("scp", set())
        return any(rule.allows(org, claims, scopes) for rule in self.rules)


def claim_values(name: str, value: Any) -> set[str]:
    """HTTP API hands array claims over as ``"[a b]"`` strings; scope claims are space separated."""
    if isinstance(value, list | tuple):
        return {str(v) for v in value}
    text = str(value)
    if text.startswith("[") and text.endswith("]"):
        return {v for v in text[1:-1].replace(",", " ").split() if v}
    if name in _SPACE_SEPARATED:
        return set(text.split())
    return {text}
