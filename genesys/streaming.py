"""The notification websocket's own messages: the topics and texts Genesys uses for control, and the client ping."""

from __future__ import annotations

import json

HEARTBEAT_MESSAGE = "WebSocket Heartbeat"
METADATA_TOPIC = "channel.metadata"
SOCKET_CLOSING_TOPIC = "v2.system.socket_closing"
NO_LONGER_SUBSCRIBED_PREFIX = "v2.system.no_longer_subscribed"
TOKEN_REVOKED_PREFIX = "v2.system.token_revoked"
PING_FRAME = json.dumps({"message": "ping"})
