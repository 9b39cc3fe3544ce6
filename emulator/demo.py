"""A first look: start the emulator, subscribe a channel with the shared client and print what arrives."""

from __future__ import annotations

import argparse
import asyncio
import time

import websockets

from emulator.config import DEFAULT_CLIENT, EmulatorConfig
from emulator.server import EmulatorServer
from genesys.frames import FrameKind, classify, envelope_key
from genesys.http import new_http_client
from genesys.notifications import NotificationsApi
from genesys.oauth import ClientCredentials, OAuthClient
from genesys.regions import resolve_hosts

TOPICS = [
    "v2.users.alice.presence",
    "v2.routing.queues.support.conversations",
    "v2.detail.events.conversation.c1.acd.start",
]


async def watch(connect_uri: str, duration: float) -> dict[str, int]:
    counts: dict[str, int] = {}
    deadline = time.monotonic() + duration
    async with websockets.connect(connect_uri) as ws:
        while (left := deadline - time.monotonic()) > 0:
            try:
                raw = await asyncio.wait_for(ws.recv(), left)
            except TimeoutError:
                break
            frame = classify(raw)
            counts[frame.kind.value] = counts.get(frame.kind.value, 0) + 1
            if frame.kind is FrameKind.EVENT:
                print(f"  event  {frame.topic:<48} key={envelope_key(frame.envelope)[:12]}")
            else:
                print(f"  {frame.kind.value}")
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description="Emulator demo: one socket receiving events.")
    parser.add_argument("--duration", type=float, default=10)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    config = EmulatorConfig(heartbeat_interval=2, event_rate=3, seed=args.seed)
    with EmulatorServer(config) as emulator, new_http_client() as http:
        print(f"emulator on {emulator.base_url}")
        hosts = resolve_hosts(emulator.base_url)
        token = OAuthClient(hosts.login_url, http).client_credentials(ClientCredentials(*DEFAULT_CLIENT))
        print(f"token minted, lifetime {token.lifetime:.0f} s")
        api = NotificationsApi(hosts.api_url, token.access_token, http)
        channel = api.create_channel()
        results = api.replace_subscriptions(channel.id, TOPICS)
        print(f"channel {channel.id}: {sum(t.permitted for t in results)} topics permitted")
        counts = asyncio.run(watch(channel.connect_uri, min(args.duration, 30)))
        print("received: " + ", ".join(f"{k}={v}" for k, v in sorted(counts.items())))


if __name__ == "__main__":
    main()
