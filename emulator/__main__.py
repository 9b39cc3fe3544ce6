"""``python -m emulator --host 127.0.0.1 --port 8123 --client ID:SECRET ...``"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys

from emulator.config import DEFAULT_CLIENT, EmulatorConfig
from emulator.server import EmulatorServer


def _pair(value: str) -> tuple[str, str]:
    client_id, sep, secret = value.partition(":")
    if not sep or not client_id or not secret:
        raise argparse.ArgumentTypeError("expected ID:SECRET")
    return client_id, secret


def parse_args(argv: list[str] | None = None) -> tuple[argparse.Namespace, EmulatorConfig]:
    parser = argparse.ArgumentParser(prog="python -m emulator", description="A local Genesys Cloud.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8123)
    parser.add_argument("--client", type=_pair, action="append", default=[], help="client-credentials client")
    parser.add_argument("--saml-client", type=_pair, action="append", default=[], help="SAML2BEARER client")
    parser.add_argument("--org-name", default="emulator-org")
    parser.add_argument("--saml-issuer", default="https://idp.example.test")
    parser.add_argument("--token-lifetime", type=float, default=86_400)
    parser.add_argument("--channel-lifetime", type=float, default=86_400)
    parser.add_argument("--heartbeat-interval", type=float, default=30)
    parser.add_argument("--socket-closing-grace", type=float, default=60)
    parser.add_argument("--event-rate", type=float, default=10, help="events per second; 0 = only on demand")
    parser.add_argument("--rate-limit", type=int, default=300, help="REST requests per minute per token")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--token-bound-sockets", action=argparse.BooleanOptionalAction, default=True)
    args = parser.parse_args(argv)
    try:
        config = EmulatorConfig(
            clients=dict(args.client or [DEFAULT_CLIENT]),
            saml_clients=dict(args.saml_client),
            org_name=args.org_name,
            saml_issuer=args.saml_issuer,
            token_lifetime=args.token_lifetime,
            channel_lifetime=args.channel_lifetime,
            heartbeat_interval=args.heartbeat_interval,
            socket_closing_grace=args.socket_closing_grace,
            event_rate=args.event_rate,
            rate_limit_per_minute=args.rate_limit,
            seed=args.seed,
            token_bound_sockets=args.token_bound_sockets,
        )
    except ValueError as exc:
        parser.error(str(exc))
    return args, config


def main(argv: list[str] | None = None) -> int:
    args, config = parse_args(argv)
    server = EmulatorServer(config, host=args.host, port=args.port)
    print(f"genesys emulator listening on {server.base_url}", file=sys.stderr, flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(server.serve())
    return 0


if __name__ == "__main__":
    sys.exit(main())
