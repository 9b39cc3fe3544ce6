"""The org model, defined once: the deployment config, the functions and the worker all extend it.

An org is a Genesys Cloud organisation reached through one region (or a local base URL), whose minted token lives
in one token secret, and which follows a selection of topics (plain names, or templates expanded over ids).
"""

from __future__ import annotations

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator

from genesys.topics import expand_template
from genesys.validation import known_environment

ORG_NAME_PATTERN = r"^[A-Za-z0-9_.-]+$"


class TemplateIds(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    template: str
    ids: tuple[str, ...] = Field(min_length=1)

    def topics(self) -> list[str]:
        return expand_template(self.template, self.ids)


class OrgBase(BaseModel):
    """Name, where Genesys is, and where its token is cached."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
    name: str = Field(min_length=1, pattern=ORG_NAME_PATTERN)
    environment: str = Field(
        validation_alias=AliasChoices("environment", "region"),
        description="region domain such as mypurecloud.ie, or a local base URL",
    )
    token_secret: str = Field(min_length=1)

    _environment = field_validator("environment")(known_environment)


class TopicSelection(BaseModel):
    """Topics an org follows: plain topic names first, then templates expanded over ids, duplicates dropped."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    topics: tuple[str, ...] = ()
    templates: tuple[TemplateIds, ...] = ()

    def all_topics(self) -> list[str]:
        expanded = list(self.topics) + [t for spec in self.templates for t in spec.topics()]
        return list(dict.fromkeys(expanded))


class OrgTopics(OrgBase, TopicSelection):
    """What the stream worker needs of an org: for a worker group, the slice of topics its OAuth client carries,
    and the number of the slice's first shard in the org's plan (shard ids key the ledger)."""

    first_shard: int = Field(0, ge=0)
