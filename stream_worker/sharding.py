"""Topics -> shards of at most ``shard_size``, and the channel budget check made before anything starts."""

from __future__ import annotations

from dataclasses import dataclass

from genesys.org_config import OrgTopics
from genesys.validation import ConfigError
from stream_worker.settings import WorkerSettings


@dataclass(frozen=True, slots=True)
class Shard:
    id: str  # "<org>:<n>"
    org: OrgTopics
    topics: tuple[str, ...]


def split_into_shards(settings: WorkerSettings) -> list[Shard]:
    """Topics in order, ``shard_size`` at a time: a topic appended never moves an earlier one to another shard.

    Ids are ``<org>:<n>``, counted from the org's ``first_shard`` (a worker group runs a slice of the org's plan).
    """
    shards: list[Shard] = []
    for org in settings.orgs:
        topics = org.all_topics()
        chunks = [topics[i : i + settings.shard_size] for i in range(0, len(topics), settings.shard_size)]
        shards.extend(Shard(f"{org.name}:{org.first_shard + n}", org, tuple(c)) for n, c in enumerate(chunks))
    return shards


def plan_shards(settings: WorkerSettings) -> list[Shard]:
    """The shards this worker runs; ConfigError when they do not fit its channel budget."""
    shards = split_into_shards(settings)
    check_budget(settings, shards)
    return shards


def channels_needed(settings: WorkerSettings, shard_count: int) -> int:
    """Each shard holds its live sockets plus one being made during a rotation."""
    return shard_count * (settings.sockets_per_shard + 1)


def check_budget(settings: WorkerSettings, shards: list[Shard]) -> None:
    for org in settings.orgs:
        count = sum(1 for s in shards if s.org.name == org.name)
        needed = channels_needed(settings, count)
        if needed > settings.channel_budget:
            raise ConfigError(
                f"org {org.name}: {len(org.all_topics())} topics make {count} shard(s) of at most "
                f"{settings.shard_size}; with {settings.sockets_per_shard} sockets per shard plus one for rotation "
                f"they need {needed} channels, over CHANNEL_BUDGET={settings.channel_budget}. Follow fewer topics, "
                f"raise SHARD_SIZE (max 1000) or CHANNEL_BUDGET (keep two tasks under Genesys' 20)."
            )
