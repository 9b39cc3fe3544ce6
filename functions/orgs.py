"""The org as the token functions see it: the shared org model plus its credentials and optional SAML client."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from genesys.org_config import OrgBase
from genesys.validation import ConfigError

__all__ = ["ConfigError", "OrgConfig", "SamlConfig"]


class SamlConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    credentials_secret: str = Field(min_length=1, description="secret holding the SAML2BEARER client id/secret")
    org_name: str = Field(min_length=1, description="Genesys org name sent as orgName")


class OrgConfig(OrgBase):
    credentials_secret: str = Field(min_length=1)
    saml: SamlConfig | None = None
