"""The stream worker against the emulator and moto's server: zero loss, exactly once, under each fault."""

from __future__ import annotations

import asyncio

import pytest

from tests.support.bridge import build_bridge

pytestmark = pytest.mark.slow
FAST = {"heartbeat_interval": 0.5, "event_rate": 40, "token_lifetime": 8, "socket_closing_grace": 3}


async def test_steady_stream_is_stored_exactly_once(aws, make_emulator, tmp_path):
    # Given a running bridge on an emulator publishing 40 events/s
    emu = make_emulator(**FAST)
    bridge = await build_bridge(emu, health_file=str(tmp_path / "health.json")).start()
    # When it runs for a while
    await asyncio.sleep(3)
    assert bridge.worker.healthy()
    assert all(live == 2 for live in bridge.worker.live_sockets().values())
    assert await bridge.stop() == 0
    # Then every event published while covered is stored once, and the overlap was absorbed
    result = bridge.verification()
    assert result.published > 50
    assert result.ok, result
    assert bridge.worker.metrics.totals["DuplicatesAbsorbed"] >= result.published * 0.8
    assert bridge.uncovered() == []
