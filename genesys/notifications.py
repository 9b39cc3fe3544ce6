"""Notifications REST API: channels and their subscriptions."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import httpx

from genesys.errors import GenesysError, RequestRejectedError
from genesys.http import raise_for_status, transport_errors
from genesys.models import AvailableTopic, Channel, ChannelTopic

_BASE = "/api/v2/notifications"


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

    def list_channels(self, include: str = "oauthclient") -> list[Channel]:
        body = self._json("GET", "/channels", "list channels", params={"includechannels": include})
        return [Channel.from_api(e) for e in body.get("entities", [])]

    def channel_exists(self, channel_id: str) -> bool:
        response = self._send("HEAD", f"/channels/{channel_id}", "head channel")
        if response.status_code == 404:
            return False
        raise_for_status(response, "head channel")
        return True

    def get_subscriptions(self, channel_id: str) -> list[ChannelTopic]:
        return self._topics("GET", channel_id, None, ignore_errors=False)

    def add_subscriptions(
        self, channel_id: str, topics: Iterable[str], *, ignore_errors: bool = True
    ) -> list[ChannelTopic]:
        return self._topics("POST", channel_id, topics, ignore_errors=ignore_errors)

    def replace_subscriptions(
        self, channel_id: str, topics: Iterable[str], *, ignore_errors: bool = True
    ) -> list[ChannelTopic]:
        return self._topics("PUT", channel_id, topics, ignore_errors=ignore_errors)

    def delete_subscriptions(self, channel_id: str) -> None:
        response = self._send("DELETE", f"/channels/{channel_id}/subscriptions", "delete subscriptions")
        raise_for_status(response, "delete subscriptions")

    def available_topics(self) -> list[AvailableTopic]:
        body = self._json("GET", "/availabletopics", "available topics")
        return [AvailableTopic(str(e["id"]), str(e.get("description", ""))) for e in body.get("entities", [])]

    def _topics(
        self, method: str, channel_id: str, topics: Iterable[str] | None, *, ignore_errors: bool
    ) -> list[ChannelTopic]:
        payload = None if topics is None else [{"id": t} for t in topics]
        params = {"ignoreErrors": "true"} if ignore_errors and method in ("POST", "PUT") else None
        body = self._json(
            method, f"/channels/{channel_id}/subscriptions", f"{method} subscriptions", json=payload, params=params
        )
        return [ChannelTopic.from_api(e) for e in body.get("entities", [])]

    def _send(self, method: str, path: str, what: str, **kwargs: Any) -> httpx.Response:
        with transport_errors(what):
            return self._http.request(method, f"{self._api_url}{_BASE}{path}", headers=self._headers, **kwargs)

    def _json(self, method: str, path: str, what: str, **kwargs: Any) -> dict[str, Any]:
        response = self._send(method, path, what, **kwargs)
        raise_for_status(response, what)
        try:
            body = response.json()
        except ValueError:
            raise GenesysError(f"{what} returned a non-JSON body") from None
        if not isinstance(body, dict):
            raise RequestRejectedError(f"{what} returned an unexpected body", response.status_code)
        return body
