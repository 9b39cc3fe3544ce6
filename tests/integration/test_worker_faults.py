"""Faults: sockets that die without warning, evictions, silence and chaos lose nothing; total loss shows as a gap."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import time
from typing import Any

import boto3
import pytest

from emulator.faults import chaos_menu, needs_channel
from genesys.token_secret import TokenSecret
from local_stack.bridge import LocalBridge
from local_stack.naive_client import NaiveClient
from local_stack.waiting import eventually
from stream_worker.verify import verify
from tests.conftest import bearer, mint
from tests.support.bridge import (
    TOPICS,
    all_sockets_live,
    finish,
    first_socket,
    ledger_sessions,
    rotations,
    running_bridge,
    sessions_on,
    stored,
    stores_more,
)

pytestmark = pytest.mark.slow


async def test_abrupt_drop_of_one_socket_loses_nothing(aws, make_emulator, tmp_path):
    """Given two live sockets, when one TCP connection drops without a close frame, the shard stays covered."""
    bridge = await running_bridge(make_emulator, tmp_path, {"token_lifetime": 30})
    bridge.fault("drop_socket", channel=first_socket(bridge))
    await eventually(lambda: rotations(bridge)["closed"] == 1, 5, "the drop is noticed")
    await all_sockets_live(bridge)
    await finish(bridge)
    assert bridge.uncovered() == []


async def test_channels_created_by_others_never_evict_our_live_channels(aws, make_emulator, tmp_path, http):
    """Given another app on the same OAuth client creating 25 channels, Genesys evicts its unconnected ones first."""
    bridge = await running_bridge(make_emulator, tmp_path, {"token_lifetime": 30})
    ours = set(bridge.our_channels())
    token = mint(http, bridge.emulator.base_url)
    for _ in range(25):
        http.post(f"{bridge.emulator.base_url}/api/v2/notifications/channels", headers=bearer(token)).raise_for_status()
    # Then our connected channels all still exist
    assert ours <= {c["id"] for c in bridge.emulator.snapshot()["channels"]}
    # And an eviction of one of ours (404 on the socket) is rotated away without loss
    bridge.fault("evict_channel", channel=sorted(ours)[0])
    await eventually(lambda: rotations(bridge)["evicted"] == 1, 5, "the eviction is noticed")
    await all_sockets_live(bridge)
    budget = bridge.worker.supervisors[0]._budget
    assert budget.in_use == 2  # the two live channels, nothing leaked by the evicted one
    await finish(bridge)


async def test_paused_heartbeats_keep_the_socket_and_a_silent_socket_is_replaced(aws, make_emulator, tmp_path):
    """Given paused heartbeats, pongs keep the socket; a socket that answers nothing is declared dead and replaced."""
    bridge = await running_bridge(make_emulator, tmp_path, {"token_lifetime": 30})
    victim = first_socket(bridge)
    bridge.fault("pause_heartbeats", channel=victim, seconds=3)
    pinged = bridge.emulator.snapshot()["now"]
    # When three heartbeat-less seconds pass (ping_after is 1 s, so pings were answered by pongs)
    await eventually(lambda: bridge.emulator.snapshot()["now"] - pinged >= 3, 5, "3 s pass")
    assert victim in bridge.our_channels()
    # When the socket stalls completely, it is dead after ping_after + liveness_timeout, and replaced
    bridge.fault("stall_socket", channel=victim, seconds=10)
    await eventually(lambda: victim not in bridge.our_channels(), 5, "the stalled socket is declared dead")
    await all_sockets_live(bridge)
    await finish(bridge)
    assert rotations(bridge)["liveness"] == 1
    assert bridge.uncovered() == []


async def test_losing_every_socket_at_once_shows_as_an_uncovered_interval(aws, make_emulator, tmp_path):
    """Given every socket dropped at once with REST failing, the ledger shows exactly one short gap."""
    bridge = await running_bridge(make_emulator, tmp_path, {"token_lifetime": 30})
    bridge.fault("fail_requests", target="rest", count=2, status=503)  # slow the recovery down a little
    bridge.fault("drop_socket")  # every socket
    await eventually(lambda: rotations(bridge)["closed"] == 2, 5, "both drops are noticed")
    await all_sockets_live(bridge)
    await stores_more(bridge)
    assert await bridge.stop() == 0
    gaps = bridge.uncovered()
    assert len(gaps) == 1
    assert 0 < gaps[0][1] - gaps[0][0] < 2


async def test_no_token_or_secret_in_worker_logs(aws, make_emulator, tmp_path, caplog):
    """Given DEBUG logging through rotations and REST errors, no token or client secret is ever logged."""
    caplog.set_level("DEBUG")
    bridge = await running_bridge(make_emulator, tmp_path)
    await eventually(lambda: rotations(bridge)["token_expiry"] >= 1, 15, "a token rotation")
    await all_sockets_live(bridge)
    bridge.fault("fail_requests", target="rest", count=1, status=500)
    victim = first_socket(bridge)
    bridge.fault("close_socket", channel=victim, code=1011, reason="internal error")
    await eventually(lambda: not sessions_on(bridge, victim), 5, "the closed socket is gone")
    await all_sockets_live(bridge)
    await finish(bridge)
    secrets = boto3.client("secretsmanager")
    versions = secrets.list_secret_version_ids(SecretId=bridge.names.token_secret, IncludeDeprecated=True)["Versions"]
    tokens = [
        TokenSecret.from_json(
            secrets.get_secret_value(SecretId=bridge.names.token_secret, VersionId=v["VersionId"])["SecretString"]
        ).access_token
        for v in versions
    ]
    assert len(tokens) >= 2
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


async def _apply(bridge: LocalBridge, spec: dict[str, Any], rng: random.Random, naive: NaiveClient) -> None:
    spec = dict(spec)
    if needs_channel(spec):
        live = bridge.our_channels() + naive.channels[-1:]  # the naive client's socket is a target too
        if not live:
            return
        spec["channel"] = rng.choice(live)
    bridge.fault(spec.pop("type"), **spec)


async def test_randomized_chaos_loses_nothing_where_the_naive_client_loses(aws, make_emulator, tmp_path):
    """Given a random fault every 2-3 s for 16 s, the worker loses nothing; the naive client beside it does."""
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
    await eventually(lambda: bool(naive.keys), 5, "the naive client receives events")
    naive_window = [time.time()]
    rng = random.Random(seed)
    started = time.monotonic()
    for at, spec in _chaos_schedule(seed, duration):
        await asyncio.sleep(max(0.0, at - (time.monotonic() - started)))  # the schedule's own clock
        await _apply(bridge, spec, rng, naive)
    await stores_more(bridge, 40)
    naive_window.append(time.time())
    naive.stop()
    await naive_task
    assert await bridge.stop() == 0, f"seed={seed}"
    result = bridge.verification()
    naive_result = verify(
        [e.as_json() for e in bridge.emulator.events()], naive.keys, set(TOPICS), (naive_window[0], naive_window[1])
    )
    print(
        f"chaos seed={seed} published={result.published} stored={result.stored} lost={result.lost} "
        f"rotations={dict(rotations(bridge))} naive_lost={naive_result.lost}/{naive_result.published}"
    )
    assert result.ok, f"seed={seed} {result}"
    assert stored(bridge) >= result.stored
    # the comparison is the point of the design: on 16 s of chaos the naive client always loses some
    assert naive_result.lost > 0, f"seed={seed}"


async def test_a_half_open_socket_ends_at_its_last_frame_in_the_ledger(aws, make_emulator, tmp_path):
    """Given a socket that stays open and answers nothing, not even pings, its ledger end is its last proof."""
    bridge = await running_bridge(make_emulator, tmp_path, {"token_lifetime": 30})
    victim = first_socket(bridge)
    (session,) = sessions_on(bridge, victim)
    bridge.fault("half_open_socket", channel=victim, seconds=10)
    await eventually(lambda: session.ended.is_set(), 6, "the half-open socket is declared dead")
    last_frame = session.proven_at
    await all_sockets_live(bridge)
    await finish(bridge)
    items = [i for i in ledger_sessions(bridge) if i["channel_id"]["S"] == victim]
    (item,) = items
    assert abs(int(item["end_ms"]["N"]) / 1000 - last_frame) < 1.0
    assert item["end_reason"]["S"] == "liveness"
    assert bridge.uncovered() == []


async def test_a_socket_dropped_while_aws_is_down_is_replaced_as_fast_as_ever(aws, make_emulator, tmp_path):
    """Given Secrets Manager unreachable, a dropped socket is replaced with the token held in memory, at once."""
    bridge = await running_bridge(make_emulator, tmp_path, {"token_lifetime": 60})
    reader = bridge.worker.readers["local"]

    def unreachable(*args, **kwargs):
        time.sleep(3)  # what a connect timeout looks like from here
        raise ConnectionError("secretsmanager endpoint unreachable")

    reader._source.get = unreachable  # type: ignore[method-assign]
    victim = first_socket(bridge)
    dropped = time.monotonic()
    bridge.fault("drop_socket", channel=victim)
    await eventually(lambda: rotations(bridge)["closed"] == 1, 5, "the drop is noticed")
    await all_sockets_live(bridge)
    assert time.monotonic() - dropped < 2.0  # no wait on AWS: the held token opened the new channel
    await finish(bridge)
    assert bridge.uncovered() == []


async def test_a_neighbour_at_the_channel_limit_never_makes_us_evict_our_own(aws, make_emulator, tmp_path, http):
    """Given another app filling the client's channels with connected, pinging sockets, our rotations evict theirs."""
    import websockets

    bridge = await running_bridge(make_emulator, tmp_path, {"token_lifetime": 60})
    token = mint(http, bridge.emulator.base_url)
    sockets = []
    for _ in range(18):  # with our two: the client's 20
        channel = http.post(f"{bridge.emulator.base_url}/api/v2/notifications/channels", headers=bearer(token)).json()
        sockets.append(await websockets.connect(channel["connectUri"]))
    stop = asyncio.Event()

    async def keep_pinging() -> None:
        while not stop.is_set():
            for ws in sockets:
                with contextlib.suppress(Exception):
                    await ws.send('{"message": "ping"}')
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.2)

    async def drain(ws) -> None:  # a neighbour that reads its sockets, as a real application would
        with contextlib.suppress(Exception):
            async for _ in ws:
                pass

    readers = [asyncio.create_task(drain(ws)) for ws in sockets]
    pinger = asyncio.create_task(keep_pinging())
    try:
        for n in range(1, 4):  # three of our rotations, each needing a new channel at the limit
            await all_sockets_live(bridge)
            bridge.fault("close_socket", channel=first_socket(bridge), code=1011, reason="internal error")
            await eventually(lambda: rotations(bridge)["closed"] >= n, 5, "the close is noticed")  # noqa: B023
        await all_sockets_live(bridge)
        await stores_more(bridge)
    finally:
        stop.set()
        await pinger
        await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)
        await asyncio.gather(*readers, return_exceptions=True)
    await finish(bridge)
    ours = {i["channel_id"]["S"] for i in ledger_sessions(bridge)}
    evictions = bridge.emulator.snapshot()["evictions"]
    assert evictions, "the client was at the limit: every creation evicted someone"
    assert [e for e in evictions if e["channel"] in ours and e["connected"]] == []
