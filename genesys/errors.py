"""Typed Genesys errors. Messages carry status and Genesys' error code only: never a token or secret."""

from __future__ import annotations


class GenesysError(Exception):
    """Base class for every failure talking to Genesys Cloud."""


class BadCredentialsError(GenesysError):
    """401/403 from the login or API host: wrong client id/secret, or an invalid/expired token."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class RateLimitedError(GenesysError):
    """429: wait ``retry_after`` seconds before calling again."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ServerError(GenesysError):
    """5xx: transient on Genesys' side; retry with backoff."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class GenesysTimeoutError(GenesysError):
    """The request timed out or the connection failed before an answer came."""


class RequestRejectedError(GenesysError):
    """4xx other than auth and rate limits (400 too many topics, 404 unknown channel, ...)."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


TRANSIENT_ERRORS: tuple[type[GenesysError], ...] = (RateLimitedError, ServerError, GenesysTimeoutError)
