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


def plan_shards(settings: WorkerSettings) -> list[Shard]:
    shards: list[Shard] = []
    for org in settings.orgs:
        topics = org.all_topics()
        chunks = [topics[i : i + settings.shard_size] for i in range(0, len(topics), settings.shard_size)]
        shards.extend(Shard(f"{org.name}:{n}", org, tuple(chunk)) for n, chunk in enumerate(chunks))
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
