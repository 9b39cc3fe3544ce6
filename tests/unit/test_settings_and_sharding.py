"""Worker settings from the environment, and topics planned into shards within the channel budget."""

from __future__ import annotations

import json

import pytest

from stream_worker.settings import ConfigError, load_settings
from stream_worker.sharding import plan_shards


def _env(**extra: str) -> dict[str, str]:
    orgs = [
        {
            "name": "acme",
            "environment": "mypurecloud.ie",
            "token_secret": "t",
            "templates": [{"template": "v2.users.{id}.presence", "ids": [f"u{i}" for i in range(2500)]}],
        }
    ]
    return {"WORKER_ORGS": json.dumps(orgs), "EVENTS_TABLE": "e", "COVERAGE_TABLE": "c", "PAYLOAD_BUCKET": "b", **extra}


def test_topics_are_split_into_shards_of_at_most_the_shard_size():
    shards = plan_shards(load_settings(_env()))
    assert [len(s.topics) for s in shards] == [1000, 1000, 500]
    assert [s.id for s in shards] == ["acme:0", "acme:1", "acme:2"]


def test_topics_that_do_not_fit_the_channel_budget_refuse_to_start():
    with pytest.raises(ConfigError, match=r"need 12 channels, over CHANNEL_BUDGET=10"):
        plan_shards(load_settings(_env(SHARD_SIZE="700")))


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"SOCKETS_PER_SHARD": "many"}, "SOCKETS_PER_SHARD: Input should be a valid integer"),
        ({"SHARD_SIZE": "1001"}, "SHARD_SIZE: Input should be less than or equal to 1000"),
        ({"WORKER_ORGS": "{"}, "WORKER_ORGS is not valid JSON"),
        ({"EVENTS_TABLE": ""}, "EVENTS_TABLE: Field required"),
        ({"UNKNOWN": "x", "CHANNEL_BUDGET": "30"}, "CHANNEL_BUDGET: Input should be less than or equal to 20"),
    ],
)
def test_bad_settings_name_the_variable(extra, message):
    with pytest.raises(ConfigError, match=message):
        load_settings(_env(**extra))
