"""One place that turns httpx responses and transport failures into typed Genesys errors."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import httpx

from genesys.errors import (
    BadCredentialsError,
    GenesysError,
    GenesysTimeoutError,
    RateLimitedError,
    RequestRejectedError,
    ServerError,
)

HttpClient = httpx.Client  # callers hold one without importing httpx themselves
DEFAULT_TIMEOUT = httpx.Timeout(10.0, connect=5.0)
DEFAULT_RETRY_AFTER = 60.0
_MAX_DETAIL = 200


def new_http_client(timeout: httpx.Timeout = DEFAULT_TIMEOUT) -> httpx.Client:
    return httpx.Client(timeout=timeout, headers={"User-Agent": "genesys-notification-bridge"})


def retry_after_seconds(response: httpx.Response) -> float:
    raw = response.headers.get("Retry-After", "")
    try:
        return max(0.0, float(raw))
    except ValueError:
        return DEFAULT_RETRY_AFTER


def _detail(response: httpx.Response) -> str:
    """Genesys' error code/description, truncated; never the request (which holds credentials)."""
    try:
        body: Any = response.json()
    except ValueError:
        return ""
    if not isinstance(body, dict):
        return ""
    parts = [str(body[k]) for k in ("error", "error_description", "code", "message") if body.get(k)]
    return ": " + "; ".join(parts)[:_MAX_DETAIL] if parts else ""


def raise_for_status(response: httpx.Response, what: str) -> None:
    status = response.status_code
    if status < 400:
        return
    message = f"{what} failed with HTTP {status}{_detail(response)}"
    if status in (401, 403):
        raise BadCredentialsError(message, status)
    if status == 429:
        raise RateLimitedError(message, retry_after_seconds(response))
    if status >= 500:
        raise ServerError(message, status)
    raise RequestRejectedError(message, status)


@contextlib.contextmanager
def transport_errors(what: str) -> Iterator[None]:
    """Map httpx transport failures to GenesysTimeoutError without echoing the request."""
    try:
        yield
    except httpx.TimeoutException as exc:
        raise GenesysTimeoutError(f"{what} timed out ({type(exc).__name__})") from None
    except httpx.TransportError as exc:
        raise GenesysTimeoutError(f"{what} could not connect ({type(exc).__name__})") from None


def json_object(response: httpx.Response, what: str) -> dict[str, Any]:
    """The JSON object a Genesys API answered with; a typed error for anything else."""
    try:
        body = response.json()
    except ValueError:
        raise GenesysError(f"{what} returned a non-JSON body") from None
    if not isinstance(body, dict):
        raise RequestRejectedError(f"{what} returned an unexpected body", response.status_code)
    return body
