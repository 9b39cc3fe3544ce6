"""Fast settings for the in-process bridge in tests: lifetimes of seconds, so rotations happen within a test."""

from __future__ import annotations

from collections import Counter
from typing import Any

from emulator.server import EmulatorServer
from evidence.coverage import is_shard
from functions.mint_token.policy import RefreshPolicy
from local_stack.bridge import LocalBridge, build_bridge
from local_stack.waiting import eventually
from stream_worker.aws import dynamodb_client
from stream_worker.verify import Verification

TOPICS = [
    "v2.users.alice.presence",
    "v2.users.bob.routingStatus",
    "v2.routing.queues.support.conversations",
    "v2.detail.events.conversation.c1.acd.start",
]

# Fast lifetimes: tokens live 8 s, the worker rotates 1.5 s (slot 0) or 2.25 s (slot 1) before expiry and needs
# 3.5 s of life in a new channel; the minter refreshes under 4.5 s left, so the secret always has 4 s or more.
WORKER_DEFAULTS: dict[str, Any] = {
    "token_rotation_lead": 1.5,
    "channel_rotation_lead": 1.5,
    "min_token_life": 3.5,
    "ping_after": 1.0,
    "liveness_timeout": 1.0,
    "confirm_timeout": 3.0,
    "ledger_interval": 0.5,
    "metrics_interval": 2.0,
    "drain_timeout": 15.0,
    "write_concurrency": 8,
    "delivery_allowance": 0.1,
    "touch_interval": 1.0,
}
MINTER_POLICY = RefreshPolicy(fraction=0.5, schedule_period=0.5, rotation_lead=3.5, retry_allowance=0.5)
FAST_EMULATOR: dict[str, Any] = {
    "heartbeat_interval": 0.5,
    "event_rate": 40,
    "token_lifetime": 8,
    "socket_closing_grace": 3,
}


def fast_bridge(emulator: EmulatorServer, topics: list[str] | None = None, **worker_overrides: Any) -> LocalBridge:
    return build_bridge(emulator, topics or TOPICS, MINTER_POLICY, **{**WORKER_DEFAULTS, **worker_overrides})


async def running_bridge(make_emulator, tmp_path, emulator: dict[str, Any] | None = None, **worker: Any) -> LocalBridge:
    """Given: a fast emulator, the local stack, and a worker with every socket of every shard confirmed."""
    emu = make_emulator(**{**FAST_EMULATOR, **(emulator or {})})
    return await fast_bridge(emu, health_file=str(tmp_path / "health.json"), **worker).start()


async def finish(bridge: LocalBridge, *, gaps_reported: bool = False) -> Verification:
    """Stop the worker (exit 0 expected) and verify every published event was stored exactly once
    (``gaps_reported``: or lies inside a gap the ledger reports)."""
    assert await bridge.stop() == 0
    result = bridge.verification(gaps_reported=gaps_reported)
    assert result.published > 0
    assert result.ok, summary(result)
    return result


def summary(result: Verification) -> str:
    """The verdict in one line, with when the first lost events were published (never their whole bodies)."""
    lost = ", ".join(f"#{e['seq']} {e['topic']} at {e['published_at']:.3f}" for e in result.lost_events[:5])
    return (
        f"published={result.published} stored={result.stored} lost={result.lost} in_gaps={result.in_gaps} "
        f"duplicates={result.duplicates} extra={result.extra} repeated={result.repeated}; first lost: {lost}"
    )


def first_socket(bridge: LocalBridge) -> str:
    """A socket that is some slot's current one (not one being retired by a rotation under way)."""
    wanted = bridge.worker.settings.sockets_per_shard
    channels = bridge.our_channels()
    assert len(channels) == wanted * len(bridge.worker.supervisors), "a rotation is under way"
    return channels[0]


def sessions_on(bridge: LocalBridge, channel: str) -> list[Any]:
    return [s for sup in bridge.worker.supervisors for s in sup.sessions if s.live and s.channel_id == channel]


def stored(bridge: LocalBridge) -> int:
    return bridge.worker.metrics.totals["EventsStored"]


def rotations(bridge: LocalBridge) -> Counter[str]:
    return bridge.worker.metrics.rotation_totals


async def stores_more(bridge: LocalBridge, count: int = 20, within: float = 10.0) -> None:
    """Wait until ``count`` more events are stored: the stream is flowing (through whatever just happened)."""
    target = stored(bridge) + count
    await eventually(lambda: stored(bridge) >= target, within, f"{count} more events stored")


async def all_sockets_live(bridge: LocalBridge, within: float = 10.0) -> None:
    wanted = bridge.worker.settings.sockets_per_shard
    await eventually(
        lambda: all(live == wanted for live in bridge.worker.live_sockets().values()),
        within,
        f"{wanted} live sockets on every shard",
    )


def ledger_sessions(bridge: LocalBridge) -> list[dict[str, Any]]:
    """Every session item of the coverage table (not the tasks' heartbeats or the auditor's verdicts)."""
    return [i for i in table_items(bridge.names.coverage_table) if is_shard(i["shard"]["S"])]


def table_items(table: str) -> list[dict[str, Any]]:
    """Every item of a table, page by page (a test may scan; the product never does)."""
    pages = dynamodb_client().get_paginator("scan").paginate(TableName=table)
    return [item for page in pages for item in page.get("Items", [])]
