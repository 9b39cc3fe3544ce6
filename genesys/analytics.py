"""The REST APIs that can rebuild what a notification gap hid: conversation and user details (Analytics) and audits.

Each query is made the way the APIs require: intervals split to their limit (7 days), every page read to the end
and records deduplicated across pages (the same record can show on two pages while live data arrives, and
``totalHits`` is approximate, so paging stops at an empty page, not at a count), 429 answered by waiting its
``Retry-After`` (bounded), audits polled until their transaction completes and read by cursor.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx

from genesys.errors import GenesysError, RateLimitedError, ServerError
from genesys.http import json_object, raise_for_status, transport_errors
from genesys.regions import resolve_hosts
from genesys.timefmt import iso_ms, parse_iso
from genesys.token_secret import TokenSecret

MAX_INTERVAL = 7 * 86_400.0  # the details queries' and audits' interval limit
PAGE_SIZE = 100
AUDIT_PAGE_SIZE = 500
MAX_PAGES = 1000  # 100,000 results: Genesys' own paging ceiling
MAX_WAIT = 120.0  # seconds spent waiting out 429s and transaction polls per call before giving up


def split(start: float, end: float, limit: float = MAX_INTERVAL) -> list[tuple[float, float]]:
    """[start, end] in consecutive pieces no longer than ``limit``."""
    pieces, cursor = [], start
    while cursor < end:
        pieces.append((cursor, min(end, cursor + limit)))
        cursor += limit
    return pieces


def interval(start: float, end: float) -> str:
    return f"{iso_ms(start)}/{iso_ms(end)}"


def _predicates(dimension: str, values: list[str]) -> list[dict[str, Any]]:
    return [{"type": "or", "predicates": [{"type": "dimension", "dimension": dimension, "value": v} for v in values]}]


class RepairApi:
    """One bearer token's view of the analytics and audit APIs. Construct one per token."""

    def __init__(
        self,
        api_url: str,
        access_token: str | Callable[[], str],
        http: httpx.Client,
        *,
        sleep: Callable[[float], None] = time.sleep,
        max_wait: float = MAX_WAIT,
    ) -> None:
        """``access_token``: a token, or a function giving the current one (a long repair can outlive a token)."""
        self._api_url = api_url.rstrip("/")
        self._token = access_token
        self._http = http
        self._sleep = sleep
        self._max_wait = max_wait
        self.requests: list[dict[str, Any]] = []  # what was asked, for the reconstruction's provenance

    def __repr__(self) -> str:
        return f"RepairApi({self._api_url!r})"

    # -- the three sources ---------------------------------------------------------------------------------------
    def conversations(
        self, start: float, end: float, *, dimension: str | None = None, values: list[str] | None = None
    ) -> list[dict[str, Any]]:
        """Conversation details of [start, end] (those that started on a UTC day it touches, as the API matches),
        filtered by a segment dimension (``queueId``, ``userId``, ``conversationId``) when given, deduplicated."""
        body: dict[str, Any] = {"order": "asc", "orderBy": "conversationStart"}
        if dimension and values:
            body["segmentFilters"] = _predicates(dimension, values)
        return self._paged("/api/v2/analytics/conversations/details/query", body, start, end, "conversations",
                           key=lambda r: str(r.get("conversationId")))  # fmt: skip

    def users(self, start: float, end: float, user_ids: list[str]) -> list[dict[str, Any]]:
        """Each user's presence and routing-status intervals overlapping [start, end]."""
        body: dict[str, Any] = {"order": "asc", "userFilters": _predicates("userId", user_ids)} if user_ids else {}
        return self._paged("/api/v2/analytics/users/details/query", body, start, end, "userDetails",
                           key=lambda r: str(r.get("userId")), merge=_merge_user)  # fmt: skip

    def audits(self, start: float, end: float, service: str | None = None) -> list[dict[str, Any]]:
        """Audit records of [start, end]: a transaction per piece, polled until done, read by cursor."""
        found: dict[str, dict[str, Any]] = {}
        for a, b in split(start, end):
            body: dict[str, Any] = {"interval": interval(a, b), **({"serviceName": service} if service else {})}
            started = self._call("POST", "/api/v2/audits/query", "audit query", json=body)
            self.requests.append({"api": "POST /api/v2/audits/query", "body": body})
            transaction = str(started["id"])
            self._await_transaction(transaction)
            cursor: str | None = None
            for _ in range(MAX_PAGES):
                params = {"pageSize": str(AUDIT_PAGE_SIZE), **({"cursor": cursor} if cursor else {})}
                page = self._call("GET", f"/api/v2/audits/query/{transaction}/results", "audit results", params=params)
                for record in page.get("entities", []):
                    found[str(record.get("id"))] = record
                cursor = page.get("cursor")
                if not cursor:
                    break
        return list(found.values())

    def availability(self) -> float:
        """The time before which analytics data is guaranteed to be in the data lake."""
        body = self._call("GET", "/api/v2/analytics/conversations/details/jobs/availability", "availability")
        return parse_iso(str(body["dataAvailabilityDate"])).timestamp()

    # -- mechanics -------------------------------------------------------------------------------------------------
    def _paged(
        self,
        path: str,
        base: dict[str, Any],
        start: float,
        end: float,
        field: str,
        *,
        key: Callable[[dict[str, Any]], str],
        merge: Callable[[dict[str, Any], dict[str, Any]], dict[str, Any]] | None = None,
    ) -> list[dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        for a, b in split(start, end):
            for number in range(1, MAX_PAGES + 1):
                body = {**base, "interval": interval(a, b), "paging": {"pageSize": PAGE_SIZE, "pageNumber": number}}
                if number == 1:
                    self.requests.append(
                        {"api": f"POST {path}", "body": {k: v for k, v in body.items() if k != "paging"}}
                    )
                page = self._call("POST", path, path.rsplit("/", 3)[-3] + " details query", json=body)
                records = page.get(field) or []
                if not records:
                    break  # totalHits is approximate: the end is the first empty page
                for record in records:
                    identity = key(record)
                    found[identity] = merge(found[identity], record) if merge and identity in found else record
        return list(found.values())

    def _await_transaction(self, transaction: str) -> None:
        waited, delay = 0.0, 0.5
        while True:
            state = self._call("GET", f"/api/v2/audits/query/{transaction}", "audit query state")
            status = str(state.get("state", ""))
            if status == "Succeeded":
                return
            if status in ("Failed", "Cancelled"):
                raise GenesysError(f"audit query {status.lower()}")
            if waited >= self._max_wait:
                raise ServerError("audit query did not complete in time", 504)
            self._sleep(delay)
            waited += delay
            delay = min(delay * 2, 5.0)

    def _call(self, method: str, path: str, what: str, **kwargs: Any) -> dict[str, Any]:
        """One request; a 429 is waited out (its Retry-After) and retried until ``max_wait`` is spent."""
        waited = 0.0
        while True:
            with transport_errors(what):
                token = self._token() if callable(self._token) else self._token
                headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
                response = self._http.request(method, f"{self._api_url}{path}", headers=headers, **kwargs)
            try:
                raise_for_status(response, what)
            except RateLimitedError as exc:
                if waited + exc.retry_after > self._max_wait:
                    raise
                self._sleep(exc.retry_after)
                waited += exc.retry_after
                continue
            return json_object(response, what)


def _merge_user(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """One user's intervals from two pages (or two interval pieces): the union, each interval once."""
    merged = dict(a)
    for name in ("primaryPresence", "routingStatus"):
        seen = {(i.get("startTime"), str(i)) for i in a.get(name, [])}
        merged[name] = a.get(name, []) + [i for i in b.get(name, []) if (i.get("startTime"), str(i)) not in seen]
    return merged


def from_token_secret(secret: str, http: httpx.Client) -> RepairApi:
    """The API as the cached token's org sees it: its host from the token's environment (a region domain or a
    local base URL; GENESYS_API_URL overrides it)."""
    token = TokenSecret.from_json(secret)
    return RepairApi(resolve_hosts(token.environment).api_url, token.access_token, http)
