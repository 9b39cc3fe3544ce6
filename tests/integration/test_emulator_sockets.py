"""Emulator websocket behaviour, driven with the websockets client on port 0."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import pytest
import websockets

from evidence.frames import FrameKind, classify
from tests.conftest import CLIENT_ID, bearer, frames_until_closed, mint, next_frame, open_channel

TOPIC = "v2.users.u1.presence"


async def test_heartbeats_arrive_every_interval(make_emulator, http):
    emu = make_emulator(heartbeat_interval=0.2)
    channel = open_channel(http, emu.base_url, mint(http, emu.base_url), [TOPIC])
    async with websockets.connect(channel["connectUri"]) as ws:
        started = time.monotonic()
        kinds = [(await next_frame(ws, skip=())).kind for _ in range(3)]
        elapsed = time.monotonic() - started
    assert kinds == [FrameKind.HEARTBEAT] * 3
    assert 0.5 <= elapsed < 2.0


async def test_ping_gets_a_pong(emulator, http):
    channel = open_channel(http, emulator.base_url, mint(http, emulator.base_url), [TOPIC])
    async with websockets.connect(channel["connectUri"]) as ws:
        await ws.send(json.dumps({"message": "ping"}))
        assert (await next_frame(ws)).kind is FrameKind.PONG


async def test_events_fan_out_byte_identical_to_every_subscribed_socket(emulator, http):
    token = mint(http, emulator.base_url)
    first = open_channel(http, emulator.base_url, token, [TOPIC])
    second = open_channel(http, emulator.base_url, token, ["v2.users.u1?presence&routingStatus"])
    other = open_channel(http, emulator.base_url, token, ["v2.users.u2.presence"])
    async with (
        websockets.connect(first["connectUri"]) as a,
        websockets.connect(second["connectUri"]) as b,
        websockets.connect(other["connectUri"]) as c,
    ):
        await asyncio.sleep(0.1)
        emulator.fault("burst", count=3, topic=TOPIC)
        raw_a = [await asyncio.wait_for(a.recv(), 3) for _ in range(3)]
        raw_b = [await asyncio.wait_for(b.recv(), 3) for _ in range(3)]
        await c.send(json.dumps({"message": "ping"}))
        assert (await next_frame(c)).kind is FrameKind.PONG  # nothing for u1 reached the u2 socket first
    assert raw_a == raw_b
    assert len(set(raw_a)) == 3
    truth = emulator.events()
    assert [e.text for e in truth] == raw_a
    assert all(sorted(e.channels) == sorted([first["id"], second["id"]]) for e in truth)


async def test_nothing_is_queued_for_a_topic_with_no_socket(emulator, http):
    channel = open_channel(http, emulator.base_url, mint(http, emulator.base_url), [TOPIC])
    emulator.fault("burst", count=5, topic=TOPIC)  # no socket connected yet
    async with websockets.connect(channel["connectUri"]) as ws:
        await asyncio.sleep(0.1)
        emulator.fault("publish", topic=TOPIC, body={"marker": "after-connect"})
        frame = await next_frame(ws)
    assert frame.envelope["eventBody"] == {"marker": "after-connect"}
    truth = emulator.events()
    assert [len(e.channels) for e in truth] == [0, 0, 0, 0, 0, 1]


async def test_generator_publishes_at_the_configured_rate_on_subscribed_topics(make_emulator, http):
    emu = make_emulator(event_rate=50)
    channel = open_channel(http, emu.base_url, mint(http, emu.base_url), [TOPIC, "v2.routing.queues.q1.conversations"])
    async with websockets.connect(channel["connectUri"]) as ws:
        frames = [await next_frame(ws) for _ in range(20)]
    assert {f.topic for f in frames} <= {TOPIC, "v2.routing.queues.q1.conversations"}
    assert all(f.kind is FrameKind.EVENT for f in frames)


def test_same_seed_same_topics_give_the_same_events(make_emulator, http):
    def bodies(seed: int) -> list[dict]:
        emu = make_emulator(seed=seed)
        open_channel(
            http, emu.base_url, mint(http, emu.base_url), [TOPIC, "v2.detail.events.conversation.c1.acd.start"]
        )
        emu.fault("burst", count=10)
        return [
            {k: v for k, v in e.envelope["eventBody"].items() if k not in ("modifiedDate", "eventTime")}
            | {"topic": e.topic}
            for e in emu.events()
        ]

    assert bodies(3) == bodies(3)
    assert bodies(3) != bodies(4)


async def test_a_second_socket_on_a_channel_closes_the_first(emulator, http):
    channel = open_channel(http, emulator.base_url, mint(http, emulator.base_url), [TOPIC])
    async with websockets.connect(channel["connectUri"]) as first:
        async with websockets.connect(channel["connectUri"]) as second:
            await frames_until_closed(first)
            assert first.close_code == 1000
            await second.send(json.dumps({"message": "ping"}))
            assert (await next_frame(second)).kind is FrameKind.PONG


async def test_socket_closing_is_followed_by_a_forced_close_after_the_grace(make_emulator, http):
    emu = make_emulator(socket_closing_grace=0.5)
    channel = open_channel(http, emu.base_url, mint(http, emu.base_url), [TOPIC])
    async with websockets.connect(channel["connectUri"]) as ws:
        await asyncio.sleep(0.1)
        emu.fault("socket_closing")
        started = time.monotonic()
        assert (await next_frame(ws)).kind is FrameKind.SOCKET_CLOSING
        await frames_until_closed(ws)
    assert 0.3 <= time.monotonic() - started < 2.0
    assert ws.close_code == 1001


async def test_channel_expiry_closes_its_socket_and_removes_it(make_emulator, http):
    emu = make_emulator(channel_lifetime=0.5)
    token = mint(http, emu.base_url)
    channel = open_channel(http, emu.base_url, token, [TOPIC])
    async with websockets.connect(channel["connectUri"]) as ws:
        frames = await frames_until_closed(ws)
    assert [f.kind for f in frames] == [FrameKind.NOT_FOUND]
    assert (
        http.head(f"{emu.base_url}/api/v2/notifications/channels/{channel['id']}", headers=bearer(token)).status_code
        == 404
    )


async def test_token_bound_sockets_close_when_their_token_expires(make_emulator, http):
    emu = make_emulator(token_lifetime=0.6)
    channel = open_channel(http, emu.base_url, mint(http, emu.base_url), [TOPIC])
    async with websockets.connect(channel["connectUri"]) as ws:
        await frames_until_closed(ws)
    assert (ws.close_code, ws.close_reason) == (1000, "Token expired or invalid")
    # and the channel cannot be reconnected: it belonged to the dead token
    async with websockets.connect(channel["connectUri"]) as again:
        assert [f.kind for f in await frames_until_closed(again)] == [FrameKind.NOT_FOUND]


async def test_without_token_bound_sockets_a_socket_outlives_its_token(make_emulator, http):
    emu = make_emulator(token_lifetime=0.3, token_bound_sockets=False)
    channel = open_channel(http, emu.base_url, mint(http, emu.base_url), [TOPIC])
    async with websockets.connect(channel["connectUri"]) as ws:
        await asyncio.sleep(0.8)
        await ws.send(json.dumps({"message": "ping"}))
        assert (await next_frame(ws)).kind is FrameKind.PONG


async def test_21st_channel_evicts_oldest_unconnected_first_then_oldest_connected(emulator, http):
    token = mint(http, emulator.base_url)
    channels = [open_channel(http, emulator.base_url, token, [TOPIC]) for _ in range(20)]
    async with websockets.connect(channels[0]["connectUri"]) as oldest:
        await asyncio.sleep(0.1)
        # Given 20 channels, the oldest connected: the 21st evicts the oldest unconnected one
        open_channel(http, emulator.base_url, token, [TOPIC])
        ids = {c["id"] for c in emulator.snapshot()["channels"]}
        assert channels[1]["id"] not in ids
        assert channels[0]["id"] in ids
        # When every channel has a socket, the oldest last-used connected one goes, with a 404 frame
        others = [await websockets.connect(c["connectUri"]) for c in channels[2:]]
        fresh = [c for c in emulator.snapshot()["channels"] if not c["connected"]]
        async with websockets.connect(f"ws://127.0.0.1:{emulator.port}/channels/{fresh[0]['id']}"):
            await asyncio.sleep(0.1)
            open_channel(http, emulator.base_url, token, [TOPIC])
            frames = await frames_until_closed(oldest)
        for ws in others:
            await ws.close()
    assert [f.kind for f in frames] == [FrameKind.NOT_FOUND]


async def test_subscribing_over_the_socket(emulator, http):
    token = mint(http, emulator.base_url)
    channel = http.post(f"{emulator.base_url}/api/v2/notifications/channels", headers=bearer(token)).json()
    async with websockets.connect(channel["connectUri"]) as ws:
        await ws.send(json.dumps({"message": "subscribe", "topics": [TOPIC], "correlationId": "c-1"}))
        result = await next_frame(ws)
        assert result.kind is FrameKind.SUBSCRIBE_RESULT
        assert result.envelope == {"result": "200", "status": "subscribed", "correlationId": "c-1"}
        await ws.send(json.dumps({"message": "subscribe", "topics": ["v2.bad"]}))
        assert (await next_frame(ws)).envelope["result"] == "400"
        emulator.fault("publish", topic=TOPIC, body={"n": 1})
        assert (await next_frame(ws)).envelope["eventBody"] == {"n": 1}


async def test_unknown_channel_gets_a_404_result_and_a_close(emulator):
    async with websockets.connect(f"ws://127.0.0.1:{emulator.port}/channels/streaming-0-nothere") as ws:
        frames = await frames_until_closed(ws)
    assert [f.kind for f in frames] == [FrameKind.NOT_FOUND]


# ------------------------------------------------------------------ faults on sockets


async def test_drop_socket_ends_the_connection_without_a_close_frame(emulator, http):
    channel = open_channel(http, emulator.base_url, mint(http, emulator.base_url), [TOPIC])
    async with websockets.connect(channel["connectUri"]) as ws:
        await asyncio.sleep(0.1)
        assert emulator.fault("drop_socket", channel=channel["id"])["affected"] == 1
        await frames_until_closed(ws)
    assert ws.close_code == 1006  # abnormal closure: no close frame was received


async def test_close_socket_uses_the_given_code_and_reason(emulator, http):
    channel = open_channel(http, emulator.base_url, mint(http, emulator.base_url), [TOPIC])
    async with websockets.connect(channel["connectUri"]) as ws:
        await asyncio.sleep(0.1)
        emulator.fault("close_socket", code=4000, reason="maintenance")
        await frames_until_closed(ws)
    assert (ws.close_code, ws.close_reason) == (4000, "maintenance")


async def test_expire_token_now_closes_token_bound_sockets(emulator, http):
    channel = open_channel(http, emulator.base_url, mint(http, emulator.base_url), [TOPIC])
    async with websockets.connect(channel["connectUri"]) as ws:
        await asyncio.sleep(0.1)
        emulator.fault("expire_token", channel=channel["id"])
        await frames_until_closed(ws)
    assert ws.close_reason == "Token expired or invalid"


async def test_evict_channel_sends_404_and_closes(emulator, http):
    channel = open_channel(http, emulator.base_url, mint(http, emulator.base_url), [TOPIC])
    async with websockets.connect(channel["connectUri"]) as ws:
        await asyncio.sleep(0.1)
        emulator.fault("evict_channel", channel=channel["id"])
        frames = await frames_until_closed(ws)
    assert [f.kind for f in frames] == [FrameKind.NOT_FOUND]


async def test_pause_heartbeats_silences_heartbeats_but_not_pongs(make_emulator, http):
    emu = make_emulator(heartbeat_interval=0.1)
    channel = open_channel(http, emu.base_url, mint(http, emu.base_url), [TOPIC])
    async with websockets.connect(channel["connectUri"]) as ws:
        assert (await next_frame(ws, skip=())).kind is FrameKind.HEARTBEAT
        emu.fault("pause_heartbeats", seconds=0.6)
        await asyncio.sleep(0.15)
        while True:  # drain what was already sent
            try:
                await asyncio.wait_for(ws.recv(), 0.05)
            except TimeoutError:
                break
        with pytest.raises(TimeoutError):
            await next_frame(ws, timeout=0.3, skip=())
        await ws.send(json.dumps({"message": "ping"}))
        assert (await next_frame(ws)).kind is FrameKind.PONG
        assert (await next_frame(ws, skip=())).kind is FrameKind.HEARTBEAT


async def test_stall_socket_sends_nothing_at_all(make_emulator, http):
    emu = make_emulator(heartbeat_interval=0.1)
    channel = open_channel(http, emu.base_url, mint(http, emu.base_url), [TOPIC])
    async with websockets.connect(channel["connectUri"]) as ws:
        await asyncio.sleep(0.05)
        emu.fault("stall_socket", seconds=0.5)
        emu.fault("burst", count=3, topic=TOPIC)
        await ws.send(json.dumps({"message": "ping"}))
        with pytest.raises(TimeoutError):
            await next_frame(ws, timeout=0.3, skip=())
    assert all(e.channels == [] for e in emu.events())


async def test_malformed_frame_is_sent_and_the_socket_stays_up(emulator, http):
    channel = open_channel(http, emulator.base_url, mint(http, emulator.base_url), [TOPIC])
    async with websockets.connect(channel["connectUri"]) as ws:
        await asyncio.sleep(0.1)
        emulator.fault("malformed_frame", text="{oops")
        assert classify(await ws.recv()).kind is FrameKind.MALFORMED
        await ws.send(json.dumps({"message": "ping"}))
        assert (await next_frame(ws)).kind is FrameKind.PONG


async def test_no_longer_subscribed_and_token_revoked_frames(emulator, http):
    channel = open_channel(http, emulator.base_url, mint(http, emulator.base_url), [TOPIC])
    async with websockets.connect(channel["connectUri"]) as ws:
        await asyncio.sleep(0.1)
        emulator.fault("no_longer_subscribed", channel=channel["id"])
        assert (await next_frame(ws)).kind is FrameKind.NO_LONGER_SUBSCRIBED
        emulator.fault("revoke_token", channel=channel["id"])
        assert (await next_frame(ws)).kind is FrameKind.TOKEN_REVOKED
    assert emulator.snapshot()["channels"][0]["topics"] == []
    assert not emulator.snapshot()["tokens"][0]["valid"]


async def test_ground_truth_over_http_lists_every_event_with_its_reach(emulator, http):
    channel = open_channel(http, emulator.base_url, mint(http, emulator.base_url), [TOPIC])
    async with websockets.connect(channel["connectUri"]) as ws:
        await asyncio.sleep(0.1)
        emulator.fault("burst", count=4, topic=TOPIC)
        received = [await next_frame(ws) for _ in range(4)]
    page = httpx.get(f"{emulator.base_url}/_emulator/events?since=2").json()
    assert [e["seq"] for e in page["events"]] == [3, 4]
    assert page["events"][0]["envelope"] == received[2].envelope
    assert page["events"][0]["channels"] == [channel["id"]]
    assert page["events"][0]["published_at"] == pytest.approx(time.time(), abs=10)
    assert page["total"] == 4
    assert page["next"] == 4


def test_expire_token_needs_a_target(emulator, http):
    response = http.post(f"{emulator.base_url}/_emulator/faults", json={"type": "expire_token"})
    assert response.status_code == 400
    assert CLIENT_ID not in response.text
