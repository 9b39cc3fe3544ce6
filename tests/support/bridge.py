"""Fast settings for the in-process bridge in tests (the bridge itself is emulator.local_stack.LocalBridge)."""

from __future__ import annotations

from typing import Any

from emulator.local_stack import LocalBridge
from emulator.local_stack import build_bridge as build_local_bridge
from emulator.server import EmulatorServer
from functions.mint_token.policy import RefreshPolicy

Bridge = LocalBridge
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
}
MINTER_POLICY = RefreshPolicy(fraction=0.5, schedule_period=0.5, rotation_lead=3.5, retry_allowance=0.5)


def build_bridge(emulator: EmulatorServer, topics: list[str] | None = None, **worker_overrides: Any) -> LocalBridge:
    return build_local_bridge(emulator, topics or TOPICS, MINTER_POLICY, **{**WORKER_DEFAULTS, **worker_overrides})
