"""An org whose token secret holds no usable token yet: the worker waits, healthy, and says what to do.

This is the normal state of a first deploy done placeholder-first: the stack exists before the OAuth client's
credentials are in their secret. One ERROR a minute names the secret and the fix, not one per attempt.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

log = logging.getLogger(__name__)
REPORT_EVERY = 60.0


class TokenWait:
    def __init__(
        self,
        org: str,
        secret: str,
        *,
        poll_interval: float,
        every: float = REPORT_EVERY,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.org = org
        self.secret = secret
        self._poll = poll_interval
        self._every = every
        self._clock = clock
        self._reported_at: float | None = None
        self.since: float | None = None

    @property
    def waiting(self) -> bool:
        return self.since is not None

    def no_token(self, reason: str) -> None:
        now = self._clock()
        self.since = self.since if self.since is not None else now
        if self._reported_at is not None and now - self._reported_at < self._every:
            return
        self._reported_at = now
        log.error(
            "no usable Genesys token yet: put the org's OAuth client_id and client_secret in its credentials secret, "
            'then invoke the minter with {"force": true} (or wait for its schedule)',
            extra={
                "org": self.org,
                "token_secret": self.secret,
                "reason": reason,
                "waiting_s": round(now - self.since),
                "checks_every_s": self._poll,
            },
        )

    def token_ready(self) -> None:
        if self.since is not None:
            log.info(
                "a usable token is in place; opening sockets",
                extra={"org": self.org, "token_secret": self.secret, "waited_s": round(self._clock() - self.since)},
            )
        self.since = None
        self._reported_at = None
