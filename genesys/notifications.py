"""Notifications REST API: channels and their subscriptions."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import httpx

from genesys.http import json_object, raise_for_status, transport_errors
from genesys.models import Channel, ChannelTopic

_BASE = "/api/v2/notifications"
MAX_CHANNELS_PER_CLIENT = 20  # Genesys: creating the 21st silently removes the least recently used one
MAX_TOPICS_PER_CHANNEL = 1000


class NotificationsApi:
    """One bearer token's view of the notifications API. Construct one per token."""

    def __init__(self, api_url: str, access_token: str, http: httpx.Client) -> None:
        self._api_url = api_url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {access_token}", "Accept": "application/json"}
        self._http = http

    def __repr__(self) -> str:
        return f"NotificationsApi({self._api_url!r})"

    def create_channel(self) -> Channel:
        return Channel.from_api(self._json("POST", "/channels", "create channel"))

    def client_channel_count(self) -> int:
        """How many channels the OAuth client has (every application's and token's): the eviction limit counts them."""
        body = self._json("GET", "/channels", "list channels", params={"includechannels": "oauthclient"})
        return len(body.get("entities", []))

    def replace_subscriptions(
        self, channel_id: str, topics: Iterable[str], *, ignore_errors: bool = True
    ) -> list[ChannelTopic]:
        """PUT: the channel follows exactly these topics. With ``ignore_errors`` rejected ones come back marked."""
        params = {"ignoreErrors": "true"} if ignore_errors else None
        body = self._json(
            "PUT",
            f"/channels/{channel_id}/subscriptions",
            "PUT subscriptions",
            json=[{"id": t} for t in topics],
            params=params,
        )
        return [ChannelTopic.from_api(e) for e in body.get("entities", [])]

    def _send(self, method: str, path: str, what: str, **kwargs: Any) -> httpx.Response:
        with transport_errors(what):
            return self._http.request(method, f"{self._api_url}{_BASE}{path}", headers=self._headers, **kwargs)

    def _json(self, method: str, path: str, what: str, **kwargs: Any) -> dict[str, Any]:
        response = self._send(method, path, what, **kwargs)
        raise_for_status(response, what)
        return json_object(response, what)
