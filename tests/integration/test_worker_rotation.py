"""Rotation: every planned or announced end of a socket is replaced make-before-break, losing nothing."""

from __future__ import annotations

import asyncio
import time

import boto3
import pytest

from genesys.token_secret import TokenSecret
from local_stack.naive_client import NaiveClient
from local_stack.waiting import eventually
from stream_worker.verify import verify
from tests.support.bridge import (
    TOPICS,
    all_sockets_live,
    finish,
    first_socket,
    rotations,
    running_bridge,
    sessions_on,
    stored,
    stores_more,
)

pytestmark = pytest.mark.slow


async def test_steady_stream_is_stored_exactly_once(aws, make_emulator, tmp_path):
    """Given a bridge on an emulator publishing 40 events/s, every event is stored once and each overlap absorbed."""
    bridge = await running_bridge(make_emulator, tmp_path)
    # When a hundred events have been stored
    await stores_more(bridge, 100)
    # Then both sockets are live, and every event is stored once
    assert all(live == 2 for live in bridge.worker.live_sockets().values())
    result = await finish(bridge)
    assert bridge.worker.metrics.totals["DuplicatesAbsorbed"] >= result.published * 0.8
    assert bridge.uncovered() == []


async def test_scheduled_rotations_for_token_and_channel_expiry_lose_nothing(aws, make_emulator, tmp_path):
    """Given 8 s tokens and 5 s channels with token-bound sockets, sockets rotate before each expiry."""
    bridge = await running_bridge(make_emulator, tmp_path, {"channel_lifetime": 5})
    # When channels expire twice over
    await eventually(lambda: rotations(bridge)["channel_expiry"] >= 2, 15, "two channel-expiry rotations")
    await finish(bridge)
    # Then nothing is lost and no second is uncovered
    assert bridge.uncovered() == []


async def test_token_bound_close_of_one_socket_is_covered_by_the_other(aws, make_emulator, tmp_path):
    """Given two live sockets, when Genesys closes one with "Token expired or invalid", the other covers."""
    bridge = await running_bridge(make_emulator, tmp_path, {"token_lifetime": 30})
    victim = first_socket(bridge)
    bridge.fault("close_socket", channel=victim, code=1000, reason="Token expired or invalid")
    await eventually(lambda: rotations(bridge)["closed"] == 1, 5, "the closed socket is noticed")
    await all_sockets_live(bridge)
    await finish(bridge)
    assert victim not in bridge.our_channels()


async def test_socket_closing_reopens_the_channel_well_inside_the_grace(aws, make_emulator, tmp_path):
    """Given a 5 s grace, socket_closing is answered by a new socket on the same channel within a second."""
    bridge = await running_bridge(make_emulator, tmp_path, {"token_lifetime": 30, "socket_closing_grace": 5})
    victim = first_socket(bridge)
    (old,) = sessions_on(bridge, victim)
    sent = time.monotonic()
    bridge.fault("socket_closing", channel=victim)
    await eventually(lambda: any(s is not old for s in sessions_on(bridge, victim)), 5, "a new socket on it")
    assert time.monotonic() - sent < 1.0  # long before the forced close at 5 s, with no REST call
    await stores_more(bridge)
    await finish(bridge)
    assert rotations(bridge)["socket_closing"] == 1
    assert bridge.uncovered() == []


async def test_socket_closing_everywhere_while_channel_creation_is_refused_loses_nothing(aws, make_emulator, tmp_path):
    """Given channel creation answering 429 for longer than the grace, maintenance on every socket loses nothing."""
    bridge = await running_bridge(make_emulator, tmp_path, {"token_lifetime": 30, "socket_closing_grace": 2})
    before = {c["id"] for c in bridge.emulator.snapshot()["channels"]}
    bridge.fault("refuse_channel_creation", seconds=6, retry_after=3)
    bridge.fault("socket_closing")  # every socket
    await eventually(lambda: rotations(bridge)["socket_closing"] == 2, 5, "both sockets answered")
    await stores_more(bridge, 80)  # past the 2 s grace, when the old sockets are forced closed
    assert {c["id"] for c in bridge.emulator.snapshot()["channels"]} == before  # no channel needed
    await finish(bridge)
    assert bridge.uncovered() == []


async def test_the_two_sockets_take_two_tokens_so_one_token_dying_closes_only_one(aws, make_emulator, tmp_path):
    """Given a forced mint that leaves the first token as AWSPREVIOUS, a new channel takes the other token."""
    bridge = await running_bridge(make_emulator, tmp_path, {"token_lifetime": 60})
    assert (await asyncio.to_thread(bridge.minter.run_once, True)).outcome == "minted"
    supervisor = bridge.worker.supervisors[0]

    def live_tokens() -> set[str]:
        return {s.token.access_token for s in supervisor.sessions if s.live}

    # When one socket dies and is replaced on a new channel, its replacement takes the token the other does not use
    bridge.fault("close_socket", channel=first_socket(bridge), code=1011, reason="internal error")
    await eventually(lambda: len(live_tokens()) == 2 and len(bridge.our_channels()) == 2, 5, "two tokens")
    # And when one of the two tokens dies early, only its socket closes; the other keeps the stream
    older = min((s for s in supervisor.sessions if s.live), key=lambda s: s.token.issued_at)
    bridge.fault("expire_token", channel=older.channel_id)
    await eventually(lambda: rotations(bridge)["closed"] == 2, 5, "the socket on the expired token closes")
    await stores_more(bridge)
    await finish(bridge)
    assert bridge.uncovered() == []


@pytest.mark.parametrize(("status", "retry_after"), [(429, 1), (503, 0)])
async def test_rest_errors_during_rotation_back_off_and_recover(aws, make_emulator, tmp_path, status, retry_after):
    """Given three failing REST calls, a rotation backs off (honouring Retry-After) and recovers."""
    bridge = await running_bridge(make_emulator, tmp_path, {"token_lifetime": 30})
    bridge.fault("fail_requests", target="rest", count=3, status=status, retry_after=retry_after)
    started = time.monotonic()
    victim = first_socket(bridge)
    bridge.fault("close_socket", channel=victim, code=1011, reason="internal error")
    await eventually(
        lambda: victim not in bridge.our_channels() and sum(bridge.worker.live_sockets().values()) == 2,
        10,
        "the rotation recovers",
    )
    if status == 429:
        assert time.monotonic() - started >= 1.0  # Retry-After was honoured
    await finish(bridge)


async def test_the_naive_client_loses_events_on_the_same_schedule(aws, make_emulator, tmp_path):
    """Given the worker and the naive client side by side, token expiry and socket_closing cost only the naive one."""
    bridge = await running_bridge(make_emulator, tmp_path)
    secrets = boto3.client("secretsmanager")

    def read_token() -> TokenSecret:
        return TokenSecret.from_json(secrets.get_secret_value(SecretId=bridge.names.token_secret)["SecretString"])

    naive = NaiveClient(bridge.emulator.base_url, TOPICS, read_token)
    naive_task = asyncio.create_task(naive.run())
    await eventually(lambda: bool(naive.keys), 5, "the naive client receives events")
    naive_start = time.time()
    # When tokens expire (8 s) and sockets are told to close, three times over
    for n in range(1, 4):
        await stores_more(bridge, 60)
        bridge.fault("socket_closing")
        want = 2 * n
        await eventually(lambda: rotations(bridge)["socket_closing"] >= want, 5, "both sockets rotated")  # noqa: B023
    await stores_more(bridge, 60)
    naive_end = time.time()
    naive.stop()
    await naive_task
    await finish(bridge)
    # Then the naive client lost events the worker stored
    truth = [e.as_json() for e in bridge.emulator.events()]
    naive_result = verify(truth, naive.keys, set(TOPICS), (naive_start, naive_end))
    print(f"naive lost={naive_result.lost}/{naive_result.published} reconnects={naive.reconnects}; worker lost=0")
    assert naive_result.lost > 0
    assert stored(bridge) > 0


async def test_every_shard_is_back_at_full_strength_within_ten_seconds_of_genesys_accepting_again(
    aws, make_emulator, tmp_path
):
    """Given channel creation refused for 15 s while every socket is dropped (each slot backs off, again and again),
    once Genesys accepts again every slot is back within 10 s: the backoff is never left at a long ceiling."""
    bridge = await running_bridge(make_emulator, tmp_path, {"token_lifetime": 60})
    supervisor = bridge.worker.supervisors[0]
    full = bridge.worker.settings.sockets_per_shard
    bridge.fault("refuse_channel_creation", seconds=15, retry_after=0)
    refused_until = time.monotonic() + 15
    bridge.fault("drop_socket")
    await eventually(lambda: supervisor.live_count() == 0, 5, "every socket gone")
    await eventually(lambda: time.monotonic() >= refused_until, 20, "the refusals end")
    await eventually(lambda: supervisor.live_count() == full, 10, "back at full strength within 10 s")
    result = await finish(bridge, gaps_reported=True)
    assert result.in_gaps > 0  # the outage was real, and every event it cost lies in a gap the ledger reports
