"""Scale: 12,000 topics over four OAuth clients, as synth plans them, every shard covered within the channel limit."""

from __future__ import annotations

import asyncio
import copy
import json
import time
from collections import Counter

import boto3
import pytest

from evidence.schema import COVERAGE, EVENTS, create_table_kwargs
from functions.orgs import OrgConfig
from genesys.http import new_http_client
from infra.config import load_config
from local_stack.minter_loop import MinterLoop
from local_stack.resources import StackNames
from local_stack.waiting import eventually
from stream_worker.aws import CoverageTable, dynamodb_client, s3_client, secrets_provider
from stream_worker.ledger import query_coverage
from stream_worker.settings import load_settings, worker_environment
from stream_worker.worker import Worker
from tests.infra.conftest import BRIDGE
from tests.support.bridge import MINTER_POLICY, WORKER_DEFAULTS

pytestmark = pytest.mark.slow
CLIENTS = {f"client-{n}": f"secret-{n}" for n in range(4)}
USERS = [f"u{i:05d}" for i in range(12_000)]


async def test_12000_topics_over_4_clients_are_all_covered_within_20_channels_each(aws, make_emulator, tmp_path):
    """Given the synth plan of 12,000 topics (3 shards per client), four groups cover all 12 shards; nothing is
    evicted, no client holds more than 20 channels, and no event is lost."""
    bridge = {
        **copy.deepcopy(BRIDGE),
        "worker_replicas": 1,
        "orgs": [
            {
                "name": "big",
                "region": "mypurecloud.ie",
                "templates": [{"template": "v2.users.{id}.presence", "ids": USERS}],
                "clients": [{"name": "primary"}, {"name": "b"}, {"name": "c"}, {"name": "d"}],
            }
        ],
    }
    config = load_config({"bridge": bridge}, allow_example=True)
    groups = config.groups()
    assert len(groups) == 4
    emu = make_emulator(clients=CLIENTS, heartbeat_interval=0.5, event_rate=30, token_lifetime=60)
    names = StackNames()
    dynamodb, secrets = boto3.client("dynamodb"), boto3.client("secretsmanager")
    for table, layout in ((names.events_table, EVENTS), (names.coverage_table, COVERAGE)):
        dynamodb.create_table(**create_table_kwargs(table, layout))  # type: ignore[arg-type]
    boto3.client("s3").create_bucket(Bucket=names.payload_bucket)
    minters, workers = [], []
    for group, (client_id, secret) in zip(groups, CLIENTS.items(), strict=True):
        credentials = f"{group.token_secret}-credentials"
        secrets.create_secret(
            Name=credentials, SecretString=json.dumps({"client_id": client_id, "client_secret": secret})
        )
        secrets.create_secret(Name=group.token_secret)
        org = OrgConfig(
            name=group.name, environment=emu.base_url, credentials_secret=credentials, token_secret=group.token_secret
        )
        minters.append(MinterLoop(org, MINTER_POLICY, 0.5).start())
        values = config.group_values(group)
        values["orgs"][0]["environment"] = emu.base_url  # the emulator stands in for the region
        env = worker_environment(
            **{**values, **WORKER_DEFAULTS, "sockets_per_shard": 2, "worker_id": group.name},
            events_table=names.events_table,
            coverage_table=names.coverage_table,
            payload_bucket=names.payload_bucket,
            health_file=str(tmp_path / f"{group.name}.health"),
        )
        workers.append(
            Worker(
                load_settings(env),
                secrets=secrets_provider(),
                dynamodb=dynamodb_client(),
                s3=s3_client(),
                http=new_http_client(),
            )
        )
    runs = [asyncio.create_task(w.run()) for w in workers]
    try:
        await eventually(lambda: all(w.coverage_started_at for w in workers), 60, "every group covers its shards")
        start = time.time()
        stored_at_start = sum(w.metrics.totals["EventsStored"] for w in workers)
        await eventually(
            lambda: sum(w.metrics.totals["EventsStored"] for w in workers) >= stored_at_start + 60, 30, "events flow"
        )
        snapshot = emu.snapshot()
        per_client = Counter(c["client_id"] for c in snapshot["channels"])
        assert max(per_client.values()) <= 20
        assert set(per_client) == set(CLIENTS)
    finally:
        for worker in workers:
            worker.request_stop()
        codes = await asyncio.gather(*runs)
        for minter in minters:
            minter.stop()
    assert codes == [0, 0, 0, 0]
    end = min(w.shutdown_started_at or time.time() for w in workers)
    assert emu.snapshot()["evictions"] == []
    ledger = CoverageTable(dynamodb_client(), names.coverage_table)
    shards = [s.id for g in groups for s in g.shards]
    assert len(shards) == 12
    assert {shard: query_coverage(ledger, shard, start, end).gaps for shard in shards} == {s: [] for s in shards}
    from evidence.queries import EventQueries
    from stream_worker.verify import verify

    stored = [
        i["pk"] for i in EventQueries(dynamodb_client(), names.events_table).by_window(start - 60, time.time() + 60)
    ]
    result = verify(
        [e.as_json() for e in emu.events()], stored, {f"v2.users.{u}.presence" for u in USERS}, (start, end)
    )
    print(
        f"12,000 topics, 4 clients, 12 shards: published={result.published} stored={result.stored} lost={result.lost}"
    )
    assert result.published > 0
    assert result.ok, result
