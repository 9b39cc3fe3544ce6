"""The stream worker against the emulator and moto's server: zero loss, exactly once, under each fault."""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import time
from typing import Any

import boto3
import pytest

from emulator.faults import chaos_menu, needs_channel
from emulator.local_stack import MinterLoop, StackNames, create_resources, org_config, worker_env
from emulator.naive_client import NaiveClient
from genesys.frames import envelope_key
from genesys.token_secret import TokenSecret
from stream_worker.queries import EventQueries
from stream_worker.verify import verify
from tests.support.bridge import MINTER_POLICY, TOPICS, WORKER_DEFAULTS, Bridge, build_bridge

pytestmark = pytest.mark.slow
FAST = {"heartbeat_interval": 0.5, "event_rate": 40, "token_lifetime": 8, "socket_closing_grace": 3}


async def running_bridge(make_emulator, tmp_path, emulator: dict[str, Any] | None = None, **worker: Any) -> Bridge:
    emu = make_emulator(**{**FAST, **(emulator or {})})
    return await build_bridge(emu, health_file=str(tmp_path / "health.json"), **worker).start()


async def finish(bridge: Bridge) -> Any:
    assert await bridge.stop() == 0
    result = bridge.verification()
    assert result.published > 0
    assert result.ok, result
    return result


def first_socket(bridge: Bridge) -> str:
    channels = bridge.our_channels()
    assert channels, "no live socket"
    return channels[0]


async def test_steady_stream_is_stored_exactly_once(aws, make_emulator, tmp_path):
    # Given a running bridge on an emulator publishing 40 events/s
    bridge = await running_bridge(make_emulator, tmp_path)
    # When it runs for a while
    await asyncio.sleep(3)
    # Then it is healthy with two sockets, and every event is stored once
    assert bridge.worker.healthy()
    assert all(live == 2 for live in bridge.worker.live_sockets().values())
    result = await finish(bridge)
    assert bridge.worker.metrics.totals["DuplicatesAbsorbed"] >= result.published * 0.8
    assert bridge.uncovered() == []


async def test_scheduled_rotations_for_token_and_channel_expiry_lose_nothing(aws, make_emulator, tmp_path):
    # Given tokens that live 8 s and channels that live 5 s, with token-bound sockets
    bridge = await running_bridge(make_emulator, tmp_path, {"channel_lifetime": 5})
    # When several lifetimes pass
    await asyncio.sleep(11)
    await finish(bridge)
    # Then both kinds of rotation happened, staggered, with no uncovered second
    rotations = bridge.worker.metrics.rotation_totals
    assert rotations["channel_expiry"] >= 2, rotations
    assert bridge.uncovered() == []


async def test_token_bound_close_of_one_socket_is_covered_by_the_other(aws, make_emulator, tmp_path):
    bridge = await running_bridge(make_emulator, tmp_path, {"token_lifetime": 30})
    await asyncio.sleep(0.5)
    victim = first_socket(bridge)
    bridge.fault("close_socket", channel=victim, code=1000, reason="Token expired or invalid")
    await asyncio.sleep(1.5)
    await finish(bridge)
    assert bridge.worker.metrics.rotation_totals["closed"] == 1
    assert victim not in bridge.our_channels()


async def test_socket_closing_rotates_well_inside_the_grace(aws, make_emulator, tmp_path):
    bridge = await running_bridge(make_emulator, tmp_path, {"token_lifetime": 30, "socket_closing_grace": 5})
    await asyncio.sleep(0.5)
    victim = first_socket(bridge)
    sent = time.monotonic()
    bridge.fault("socket_closing", channel=victim)
    while victim in bridge.our_channels():
        await asyncio.sleep(0.02)
    assert time.monotonic() - sent < 2.0  # replaced and retired long before the forced close at 5 s
    await asyncio.sleep(0.5)
    await finish(bridge)
    assert bridge.worker.metrics.rotation_totals["socket_closing"] == 1


async def test_abrupt_drop_of_one_socket_loses_nothing(aws, make_emulator, tmp_path):
    bridge = await running_bridge(make_emulator, tmp_path, {"token_lifetime": 30})
    await asyncio.sleep(0.5)
    bridge.fault("drop_socket", channel=first_socket(bridge))
    await asyncio.sleep(1.5)
    await finish(bridge)
    assert bridge.worker.metrics.rotation_totals["closed"] == 1
    assert all(live == 2 for live in bridge.worker.live_sockets().values()) or bridge.worker.stopping.is_set()


async def test_the_two_sockets_take_two_tokens_so_one_token_dying_closes_only_one(aws, make_emulator, tmp_path):
    # Given both sockets on the only token, and a forced mint that leaves the first token as AWSPREVIOUS
    bridge = await running_bridge(make_emulator, tmp_path, {"token_lifetime": 60})
    assert (await asyncio.to_thread(bridge.minter.run_once, True)).outcome == "minted"
    # When one socket rotates, its replacement takes the token the other socket does not use
    bridge.fault("socket_closing", channel=first_socket(bridge))
    deadline = time.monotonic() + 5
    while len({s.token.access_token for s in bridge.worker.supervisors[0].sessions if s.live}) < 2:
        assert time.monotonic() < deadline, "the sockets never took different tokens"
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.3)
    by_token = {s.token.access_token: s.channel_id for s in bridge.worker.supervisors[0].sessions if s.live}
    assert len(by_token) == 2
    # And when one of the two tokens dies early, only its socket closes; the other keeps the stream
    older = min(bridge.worker.supervisors[0].sessions, key=lambda s: s.token.issued_at)
    bridge.fault("expire_token", channel=older.channel_id)
    await asyncio.sleep(2)
    await finish(bridge)
    assert bridge.worker.metrics.rotation_totals["closed"] == 1
    assert bridge.uncovered() == []


async def test_channels_created_by_others_never_evict_our_live_channels(aws, make_emulator, tmp_path, http):
    bridge = await running_bridge(make_emulator, tmp_path, {"token_lifetime": 30})
    ours = set(bridge.our_channels())
    # Given another application on the same OAuth client creating 25 channels
    from tests.conftest import bearer, mint

    token = mint(http, bridge.emulator.base_url)
    for _ in range(25):
        http.post(f"{bridge.emulator.base_url}/api/v2/notifications/channels", headers=bearer(token)).raise_for_status()
    await asyncio.sleep(0.5)
    # Then Genesys evicted unconnected channels, not our connected ones
    assert ours <= {c["id"] for c in bridge.emulator.snapshot()["channels"]}
    # And an eviction of one of ours (404 on the socket) is rotated away without loss
    bridge.fault("evict_channel", channel=sorted(ours)[0])
    await asyncio.sleep(1.0)
    await finish(bridge)
    assert bridge.worker.metrics.rotation_totals["evicted"] == 1
    assert bridge.worker.supervisors[0]._budget.in_use <= WORKER_DEFAULTS.get("channel_budget", 10)


@pytest.mark.parametrize(("status", "retry_after"), [(429, 1), (503, 0)])
async def test_rest_errors_during_rotation_back_off_and_recover(aws, make_emulator, tmp_path, status, retry_after):
    bridge = await running_bridge(make_emulator, tmp_path, {"token_lifetime": 30})
    await asyncio.sleep(0.3)
    bridge.fault("fail_requests", target="rest", count=3, status=status, retry_after=retry_after)
    started = time.monotonic()
    victim = first_socket(bridge)
    bridge.fault("socket_closing", channel=victim)
    while victim in bridge.our_channels() or sum(bridge.worker.live_sockets().values()) < 2:
        assert time.monotonic() - started < 10, "rotation never recovered"
        await asyncio.sleep(0.05)
    if status == 429:
        assert time.monotonic() - started >= 1.0  # Retry-After was honoured
    await asyncio.sleep(0.5)
    await finish(bridge)


async def test_paused_heartbeats_keep_the_socket_and_a_silent_socket_is_replaced(aws, make_emulator, tmp_path):
    bridge = await running_bridge(make_emulator, tmp_path, {"token_lifetime": 30})
    await asyncio.sleep(0.3)
    victim = first_socket(bridge)
    # heartbeats paused: pings still get pongs, so the socket is alive and kept
    bridge.fault("pause_heartbeats", channel=victim, seconds=3)
    await asyncio.sleep(3)
    assert victim in bridge.our_channels()
    # a socket that answers nothing at all is declared dead after ping_after + liveness_timeout
    bridge.fault("stall_socket", channel=victim, seconds=10)
    await asyncio.sleep(3.5)
    assert victim not in bridge.our_channels()
    await finish(bridge)
    assert bridge.worker.metrics.rotation_totals["liveness"] == 1
    assert bridge.uncovered() == []


async def test_malformed_frames_are_quarantined_and_the_socket_stays_up(aws, make_emulator, tmp_path):
    bridge = await running_bridge(make_emulator, tmp_path, {"token_lifetime": 30})
    await asyncio.sleep(0.3)
    channels = bridge.our_channels()
    bridge.fault("malformed_frame", text="{this is not json")
    bridge.fault("malformed_frame", text=json.dumps({"topicName": "v2.users.alice.presence"}))
    await asyncio.sleep(0.5)
    assert bridge.our_channels() == channels
    await finish(bridge)
    items = boto3.client("dynamodb").scan(TableName=bridge.names.events_table)["Items"]
    quarantined = {i["reason"]["S"] for i in items if i["kind"]["S"] == "quarantine"}
    assert quarantined == {"not valid JSON", "no eventBody"}
    assert bridge.worker.metrics.totals["Quarantined"] == 4  # each frame arrived on both sockets


async def test_an_envelope_too_large_for_an_item_is_still_stored(aws, make_emulator, tmp_path):
    bridge = await running_bridge(make_emulator, tmp_path, {"token_lifetime": 30, "event_rate": 0})
    compressible = {"notes": "a" * 500_000}
    rng = random.Random(1)
    incompressible = {"blob": "".join(rng.choice("0123456789abcdef") for _ in range(900_000))}
    bridge.fault("publish", topic=TOPICS[0], body=compressible)
    bridge.fault("publish", topic=TOPICS[0], body=incompressible)
    await asyncio.sleep(1.5)
    await finish(bridge)
    queries = EventQueries(boto3.client("dynamodb"), bridge.names.events_table)
    stored = list(queries.by_topic(TOPICS[0], time.time() - 60, time.time() + 60))
    assert {("envelope_gz" in i, "envelope_s3" in i) for i in stored} == {(True, False), (False, True)}
    truth = {envelope_key(e.envelope): e.text for e in bridge.emulator.events()}
    from stream_worker.aws import EventStore
    from stream_worker.records import read_envelope

    store = EventStore(
        boto3.client("dynamodb"), boto3.client("s3"), bridge.names.events_table, bridge.names.payload_bucket
    )
    for item in stored:
        assert read_envelope(item, store.fetch_payload) == truth[item["pk"]]


async def test_the_required_queries_answer_without_a_scan(aws, make_emulator, tmp_path):
    bridge = await running_bridge(make_emulator, tmp_path, {"token_lifetime": 30})
    await asyncio.sleep(1.5)
    await finish(bridge)
    queries = EventQueries(boto3.client("dynamodb"), bridge.names.events_table)
    t1, t2 = time.time() - 60, time.time() + 60
    truth = [e for e in bridge.emulator.events() if e.channels]
    by_topic = {i["pk"] for i in queries.by_topic("v2.users.alice.presence", t1, t2)}
    assert by_topic == {envelope_key(e.envelope) for e in truth if e.topic == "v2.users.alice.presence"}
    by_queue = {i["pk"] for i in queries.by_entity("queue", "support", t1, t2)}
    assert by_queue == {envelope_key(e.envelope) for e in truth if e.topic == "v2.routing.queues.support.conversations"}
    by_conversation = list(queries.by_entity("conversation", "c1", t1, t2))
    assert by_conversation and all(i["conversation_id"] == "c1" for i in by_conversation)
    one = truth[0]
    item = queries.by_key(envelope_key(one.envelope))
    assert item is not None and item["envelope"] == one.text and item["topic"] == one.topic
    assert {i["pk"] for i in queries.by_window(t1, t2)} >= {envelope_key(e.envelope) for e in truth}


async def test_losing_every_socket_at_once_shows_as_an_uncovered_interval(aws, make_emulator, tmp_path):
    bridge = await running_bridge(make_emulator, tmp_path, {"token_lifetime": 30})
    await asyncio.sleep(0.5)
    bridge.fault("fail_requests", target="rest", count=2, status=503)  # slow the recovery down a little
    bridge.fault("drop_socket")  # every socket
    await asyncio.sleep(2)
    assert await bridge.stop() == 0
    gaps = bridge.uncovered()
    assert len(gaps) == 1
    assert 0 < gaps[0][1] - gaps[0][0] < 2
    assert bridge.worker.metrics.totals["EventsStored"] > 0


async def test_no_token_or_secret_in_worker_logs(aws, make_emulator, tmp_path, caplog):
    caplog.set_level("DEBUG")
    bridge = await running_bridge(make_emulator, tmp_path)
    await asyncio.sleep(6)  # at least one token rotation
    bridge.fault("fail_requests", target="rest", count=1, status=500)
    bridge.fault("socket_closing", channel=first_socket(bridge))
    await asyncio.sleep(1)
    await finish(bridge)
    secrets = boto3.client("secretsmanager")
    versions = secrets.list_secret_version_ids(SecretId=bridge.names.token_secret, IncludeDeprecated=True)["Versions"]
    tokens = [
        TokenSecret.from_json(
            secrets.get_secret_value(SecretId=bridge.names.token_secret, VersionId=v["VersionId"])["SecretString"]
        ).access_token
        for v in versions
    ]
    assert tokens
    text = caplog.text + json.dumps([r.__dict__ for r in caplog.records], default=str)
    for token in tokens:
        assert token not in text
    assert "emulator-secret" not in text


def _chaos_schedule(seed: int, duration: float) -> list[tuple[float, dict[str, Any]]]:
    rng = random.Random(seed)
    kinds = chaos_menu(pause=2, stall=3)
    schedule: list[tuple[float, dict[str, Any]]] = []
    at = 0.5
    while at < duration:
        schedule.append((at, dict(rng.choice(kinds))))
        # one fault at a time: the slowest to notice, a stalled socket, is declared dead and replaced within ~1.5 s
        at += rng.uniform(2.0, 3.0)
    return schedule


async def _apply(bridge: Bridge, spec: dict[str, Any], rng: random.Random, naive: NaiveClient) -> None:
    spec = dict(spec)
    if needs_channel(spec):
        live = bridge.our_channels() + naive.channels[-1:]  # the naive client's socket is a target too
        if not live:
            return
        spec["channel"] = rng.choice(live)
    bridge.fault(spec.pop("type"), **spec)


async def test_randomized_chaos_loses_nothing(aws, make_emulator, tmp_path):
    seed = int(os.environ.get("CHAOS_SEED", random.randrange(1_000_000)))
    duration = float(os.environ.get("CHAOS_DURATION", "16"))
    print(f"chaos seed={seed} (CHAOS_SEED={seed} reruns this schedule)")
    bridge = await running_bridge(
        make_emulator, tmp_path, {"seed": seed, "channel_lifetime": 6}, ping_after=0.6, liveness_timeout=0.5
    )
    secrets = boto3.client("secretsmanager")
    naive = NaiveClient(
        bridge.emulator.base_url,
        TOPICS,
        lambda: TokenSecret.from_json(secrets.get_secret_value(SecretId=bridge.names.token_secret)["SecretString"]),
    )
    naive_task = asyncio.create_task(naive.run())
    await asyncio.sleep(0.5)
    naive_window = [time.time()]
    rng = random.Random(seed)
    started = time.monotonic()
    for at, spec in _chaos_schedule(seed, duration):
        await asyncio.sleep(max(0.0, at - (time.monotonic() - started)))
        await _apply(bridge, spec, rng, naive)
    await asyncio.sleep(1.5)
    naive_window.append(time.time())
    naive.stop()
    await naive_task
    assert await bridge.stop() == 0, f"seed={seed}"
    result = bridge.verification()
    naive_result = verify(
        [e.as_json() for e in bridge.emulator.events()], naive.keys, set(TOPICS), (naive_window[0], naive_window[1])
    )
    rotations = dict(bridge.worker.metrics.rotation_totals)
    print(
        f"chaos seed={seed} published={result.published} stored={result.stored} lost={result.lost} "
        f"duplicates_absorbed={bridge.worker.metrics.totals['DuplicatesAbsorbed']} rotations={rotations} "
        f"naive_lost={naive_result.lost}/{naive_result.published}"
    )
    assert result.ok, f"seed={seed} {result}"


async def test_the_naive_client_loses_events_on_the_same_schedule(aws, make_emulator, tmp_path):
    # Given the worker and the naive client side by side on one emulator with token-bound sockets
    bridge = await running_bridge(make_emulator, tmp_path)
    secrets = boto3.client("secretsmanager")

    def read_token() -> TokenSecret:
        return TokenSecret.from_json(secrets.get_secret_value(SecretId=bridge.names.token_secret)["SecretString"])

    naive = NaiveClient(bridge.emulator.base_url, TOPICS, read_token)
    naive_task = asyncio.create_task(naive.run())
    await asyncio.sleep(1)
    naive_start = time.time()
    # When tokens expire (8 s) and sockets are told to close, for 12 s
    for _ in range(3):
        await asyncio.sleep(2)
        bridge.fault("socket_closing")
        await asyncio.sleep(2)
    naive_end = time.time()
    naive.stop()
    await naive_task
    await finish(bridge)
    # Then the naive client lost events the worker stored
    truth = [e.as_json() for e in bridge.emulator.events()]
    naive_result = verify(truth, naive.keys, set(TOPICS), (naive_start, naive_end))
    worker_result = bridge.verification()
    print(f"naive lost={naive_result.lost}/{naive_result.published} reconnects={naive.reconnects}")
    print(f"worker lost={worker_result.lost}/{worker_result.published}")
    assert naive_result.lost > 0
    assert worker_result.lost == 0


def test_sigterm_in_the_middle_of_a_burst_flushes_everything_and_exits_0(aws, make_emulator, tmp_path):
    emu = make_emulator(**{**FAST, "token_lifetime": 60, "event_rate": 0})
    names = StackNames()
    create_resources(names)
    minter = MinterLoop(org_config(names, emu.base_url), MINTER_POLICY, 0.5).start()
    env = {
        **os.environ,
        **worker_env(names, emu.base_url, TOPICS, **{**WORKER_DEFAULTS, "health_file": str(tmp_path / "h.json")}),
        "POWERTOOLS_METRICS_NAMESPACE": "GenesysBridgeTest",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "stream_worker"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        deadline = time.monotonic() + 20
        while emu.snapshot()["sockets"] < 2:
            assert time.monotonic() < deadline and process.poll() is None, "worker did not connect"
            time.sleep(0.1)
        time.sleep(1.0)  # confirmed (a pong arrives within milliseconds)
        healthy = subprocess.run(
            [sys.executable, "-m", "stream_worker.health"], env=env, capture_output=True, text=True
        )
        assert healthy.returncode == 0, healthy.stdout
        window_start = time.time()
        emu.fault("burst", count=1500)
        process.send_signal(signal.SIGTERM)
        window_end = time.time()
        output, _ = process.communicate(timeout=60)
    finally:
        minter.stop()
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, output[-3000:]
    queries = EventQueries(boto3.client("dynamodb"), names.events_table)
    stored = [i["pk"] for i in queries.by_window(window_start - 60, time.time() + 60) if i.get("kind") == "event"]
    result = verify([e.as_json() for e in emu.events()], stored, set(TOPICS), (window_start, window_end))
    assert result.published == 1500
    assert result.ok, result
    assert '"stream worker stopped"' in output


def test_invalid_configuration_exits_2_with_a_clear_message(aws):
    env = {**os.environ, **worker_env(StackNames(), "http://127.0.0.1:9", TOPICS, sockets_per_shard="many")}
    result = subprocess.run(
        [sys.executable, "-m", "stream_worker"], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert "SOCKETS_PER_SHARD" in result.stderr


async def test_query_cli_reads_events_coverage_and_verifies(aws, make_emulator, tmp_path, monkeypatch, capsys):
    import io

    from stream_worker import query_cli

    bridge = await running_bridge(make_emulator, tmp_path, {"token_lifetime": 30})
    await asyncio.sleep(1.5)
    await finish(bridge)
    start, end = bridge.window()
    tables = ["--events-table", bridge.names.events_table, "--coverage-table", bridge.names.coverage_table]
    since, until = ["--since", str(start - 60)], ["--until", str(time.time() + 60)]

    def run(*argv: str) -> tuple[int, str]:
        out = io.StringIO()
        return query_cli.main([*tables, *argv], out=out), out.getvalue()

    truth = [e for e in bridge.emulator.events() if e.topic == TOPICS[0] and e.channels]
    code, text = run("events", "--topic", TOPICS[0], "--format", "jsonl", *since, *until)
    lines = [json.loads(line) for line in text.splitlines()]
    assert code == 0
    assert sorted(line["pk"] for line in lines) == sorted(envelope_key(e.envelope) for e in truth)
    assert all(line["envelope"]["topicName"] == TOPICS[0] for line in lines)
    code, text = run("events", "--entity", "user:alice", *since, *until)
    assert code == 0
    assert text.count(TOPICS[0]) == len(truth)
    code, text = run("events", "--key", envelope_key(truth[0].envelope), "--format", "jsonl")
    assert json.loads(text)["envelope"] == truth[0].envelope
    code, text = run("coverage", "--shard", "local:0", "--since", str(start), "--until", str(end))
    assert code == 0
    assert "0.000 uncovered second(s) in 0 interval(s)" in text
    code, text = run(
        "verify",
        "--emulator",
        bridge.emulator.base_url,
        *[a for t in TOPICS for a in ("--topic", t)],
        "--since",
        str(start),
        "--until",
        str(end),
    )
    assert code == 0, text
    assert "lost=0" in text
