"""Emulator settings. Defaults equal the real service where it is known."""

from __future__ import annotations

from dataclasses import dataclass, field

from emulator.eventbridge import EventBridgeConfig

DEFAULT_CLIENT = ("emulator-client", "emulator-secret")


@dataclass(frozen=True, slots=True)
class EmulatorConfig:
    clients: dict[str, str] = field(default_factory=lambda: dict([DEFAULT_CLIENT]))
    saml_clients: dict[str, str] = field(default_factory=dict)
    org_name: str = "emulator-org"
    saml_issuer: str = "https://idp.example.test"
    token_lifetime: float = 86_400.0
    channel_lifetime: float = 86_400.0
    heartbeat_interval: float = 30.0
    socket_closing_grace: float = 60.0
    event_rate: float = 10.0
    seed: int = 0
    token_bound_sockets: bool = True
    rate_limit_per_minute: int = 300
    max_channels_per_client: int = 20
    channel_creations_per_minute: int | None = None  # per OAuth client; None: unlimited (the real limit is unknown)
    eventbridge: EventBridgeConfig | None = None  # also send every event as a partner event
    max_topics_per_channel: int = 1000
    max_combined_topic_length: int = 200
    tick_interval: float = 0.05
    # a client that stops reading: whether, and when, Genesys closes its socket is unknown. None: never (what it
    # has not read waits, unbounded); a number: the socket is dropped once that many bytes wait unsent, or once
    # bytes have waited unsent that many seconds without the buffer emptying (what waited is lost with it)
    slow_reader_bytes: int | None = None
    slow_reader_seconds: float | None = None
    # Genesys sends notifications whose content repeats an earlier one's (a count back to 0, a status sent again):
    # this share of the generated events re-sends an earlier body of its topic as a new notification, and bodies
    # then carry plain timestamps (two state changes may share a millisecond) instead of forced unique ones
    repeat_content: float = 0.0
    # the REST APIs that rebuild a gap (emulator/analytics.py): the share of pages that show the previous page's
    # last record again, how far totalHits may be off (a fraction), how long data takes to become available, and
    # the APIs (conversations, users, audits) whose permission the client lacks (403)
    analytics_repeat: float = 0.0
    analytics_total_jitter: float = 0.0
    analytics_availability_lag: float = 0.0
    forbidden_apis: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        positive = {
            "token_lifetime": self.token_lifetime,
            "channel_lifetime": self.channel_lifetime,
            "heartbeat_interval": self.heartbeat_interval,
            "socket_closing_grace": self.socket_closing_grace,
            "tick_interval": self.tick_interval,
        }
        for name, value in positive.items():
            if value <= 0:
                raise ValueError(f"{name} must be > 0, got {value}")
        if self.event_rate < 0:
            raise ValueError(f"event_rate must be >= 0, got {self.event_rate}")
        if not self.clients and not self.saml_clients:
            raise ValueError("at least one OAuth client is needed")
