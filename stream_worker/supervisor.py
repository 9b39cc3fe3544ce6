"""One shard: keep ``sockets_per_shard`` confirmed sockets on distinct channels, rotating make-before-break."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from genesys.backoff import Backoff
from genesys.errors import BadCredentialsError, GenesysError
from genesys.models import ChannelTopic
from genesys.notifications import MAX_CHANNELS_PER_CLIENT, NotificationsApi
from genesys.token_reader import TokenReader, TokenUnavailableError
from genesys.token_secret import TokenSecret
from stream_worker.connection import CONNECT_ERRORS, Connect
from stream_worker.ledger import LedgerRecorder
from stream_worker.metrics import WorkerMetrics
from stream_worker.session import FrameSink, SessionOpenError, SessionTimings, SocketSession
from stream_worker.settings import WorkerSettings
from stream_worker.sharding import Shard
from stream_worker.token_wait import TokenWait

log = logging.getLogger(__name__)
# what opening a socket can fail with, to be retried: Genesys REST, confirmation, the connection itself
FRESH_READ_WAIT = 0.5  # seconds a rotation waits for a fresher token before taking one it holds
OPEN_ERRORS = (GenesysError, SessionOpenError, *CONNECT_ERRORS)
OPEN_BACKOFF_CAP = 5.0  # seconds: the longest a slot waits between attempts to open while Genesys refuses


class ChannelBudget:
    """Channels in use (live, or being made) per OAuth client: never more than ``limit``.

    It also knows the client's live sessions across shards, so that before a creation that would make Genesys evict
    its least recently used channel, every one of ours can be made recently used first.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.in_use = 0
        self.live: set[SocketSession] = set()
        self._changed = asyncio.Condition()
        self._opened = asyncio.Event()  # set (and replaced) each time a socket of this client is confirmed

    def next_open(self) -> asyncio.Event:
        """Set when the next socket of this OAuth client is confirmed: Genesys accepts again, so a slot backing
        off from refusals retries at once instead of at its backoff's ceiling."""
        return self._opened

    def opened(self) -> None:
        self._opened.set()
        self._opened = asyncio.Event()

    async def acquire(self) -> None:
        async with self._changed:
            await self._changed.wait_for(lambda: self.in_use < self.limit)
            self.in_use += 1

    async def release(self) -> None:
        async with self._changed:
            self.in_use -= 1
            self._changed.notify_all()


class ShardSupervisor:
    def __init__(
        self,
        shard: Shard,
        settings: WorkerSettings,
        *,
        reader: TokenReader,
        api_for: Callable[[TokenSecret], NotificationsApi],
        connect: Connect,
        sink: FrameSink,
        budget: ChannelBudget,
        token_wait: TokenWait,
        ledger: LedgerRecorder,
        metrics: WorkerMetrics,
        stopping: asyncio.Event,
        run_blocking: Callable[..., Awaitable[Any]] = asyncio.to_thread,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.shard = shard
        self._settings = settings
        self._reader = reader
        self._api_for = api_for
        self._connect = connect
        self._sink = sink
        self._budget = budget
        self._token_wait = token_wait
        self._ledger = ledger
        self._metrics = metrics
        self._stopping = stopping
        self._run_blocking = run_blocking
        self._clock = clock
        self._lock = asyncio.Lock()  # one rotation at a time: slots never rotate together
        self._rejected: set[str] = set()
        self.sessions: set[SocketSession] = set()
        self.first_covered_at: float | None = None
        self._uncovered_since: float | None = None
        self._uncovered_closed = 0.0
        self._timings = SessionTimings(
            settings.ping_after,
            settings.liveness_timeout,
            settings.confirm_timeout,
            settings.touch_interval,
            settings.delivery_allowance,
        )
        self._trackers: set[asyncio.Task[None]] = set()

    # ---------------------------------------------------------------- state
    def prove_alive(self) -> None:
        """Tell the ledger how far each live socket has proven itself: its last frame read in time (or answered ping,
        or the moment its reader was found caught up), less the allowance."""
        for session in self.sessions:
            if session.live:
                session.check_caught_up()
                until = max(session.connected_at, session.proven_until)
                self._ledger.still_alive(self.shard.id, session.channel_id, session.connected_at, until)

    async def ping_live(self) -> None:
        """A ping on every live socket: its pong is the next proof the ledger can claim."""
        await asyncio.gather(*(s.touch() for s in list(self.sessions) if s.live))

    def live_count(self) -> int:
        return sum(1 for s in self.sessions if s.live)

    def uncovered_total(self, now: float) -> float:
        """Seconds this shard has had no live socket since it was first covered, the ongoing gap included."""
        ongoing = now - self._uncovered_since if self._uncovered_since is not None else 0.0
        return self._uncovered_closed + max(0.0, ongoing)

    def _coverage_changed(self, at: float) -> None:
        live = self.live_count()
        if live > 0:
            if self.first_covered_at is None:
                self.first_covered_at = at
            if self._uncovered_since is not None:
                self._uncovered_closed += max(0.0, at - self._uncovered_since)
                log.warning(
                    "shard covered again", extra={"shard": self.shard.id, "gap_s": round(at - self._uncovered_since, 3)}
                )
                self._uncovered_since = None
        elif self.first_covered_at is not None and not self._stopping.is_set() and self._uncovered_since is None:
            self._uncovered_since = at
            log.error("shard has no live socket", extra={"shard": self.shard.id})

    # ---------------------------------------------------------------- running
    async def run(self) -> None:
        self._ledger.carries(self.shard.id, list(self.shard.topics))  # what a gap on this shard may hide
        await asyncio.gather(*(self._run_slot(k) for k in range(self._settings.sockets_per_shard)))

    async def _run_slot(self, slot: int) -> None:
        current: SocketSession | None = None
        reason: str | None = None
        while not self._stopping.is_set():
            # maintenance (socket_closing) ends the socket, not the channel: reopen it, no REST call, no budget
            reopen = current if reason == "socket_closing" and current is not None and current.channel else None
            replacement = await self._open(slot, reopen)
            if replacement is None:
                break
            if current is not None:  # make-before-break: only now that the replacement is confirmed
                self._retire_in_background(current, replacement)
            current = replacement
            reason = await self._next_trigger(current, slot)
            if reason is None:
                break
            self._metrics.rotation(reason)
            log.info(
                "rotating socket",
                extra={"shard": self.shard.id, "slot": slot, "reason": reason, "channel_id": current.channel_id},
            )

    def _retire_in_background(self, session: SocketSession, replacement: SocketSession) -> None:
        """The old socket hands over what it read (however long the writer makes it wait) while the slot goes on
        watching its replacement; its tracker records the end. It closes only once the replacement has been
        connected for a delivery allowance: an event Genesys hands to the two channels at slightly different
        moments is then on one of them, and the two claims overlap even when the close fails."""

        async def retire() -> None:
            wait = replacement.connected_at + self._settings.delivery_allowance - self._clock()
            if wait > 0:
                await asyncio.sleep(wait)
            await session.retire()

        task = asyncio.create_task(retire(), name=f"retire-{session.channel_id}")
        self._trackers.add(task)
        task.add_done_callback(self._trackers.discard)

    async def _next_trigger(self, session: SocketSession, slot: int) -> str | None:
        # staggered leads: slot k rotates (1 + k/n) leads before expiry, so slots never rotate together
        factor = 1 + slot / self._settings.sockets_per_shard
        token_expiry, channel_expiry = session.expires_at()
        due, due_reason = min(
            (token_expiry - self._settings.token_rotation_lead * factor, "token_expiry"),
            (channel_expiry - self._settings.channel_rotation_lead * factor, "channel_expiry"),
        )
        waits = {
            asyncio.create_task(session.ended.wait()): "ended",
            asyncio.create_task(session.wants_rotation.wait()): "wants",
            asyncio.create_task(self._stopping.wait()): "stop",
            asyncio.create_task(asyncio.sleep(max(0.0, due - self._clock()))): "due",
        }
        try:
            done, _ = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in waits:
                task.cancel()
        fired = {waits[t] for t in done}
        if "stop" in fired:
            return None
        if "ended" in fired or session.ended.is_set():
            return session.end_reason
        if "wants" in fired:
            return session.rotation_reason
        return due_reason

    async def _open(self, slot: int, reopen: SocketSession | None = None) -> SocketSession | None:
        # a low ceiling: once Genesys accepts again, every slot is back within seconds (Retry-After is still a floor)
        backoff = Backoff(base=0.5, cap=OPEN_BACKOFF_CAP, reset_after=120.0)
        if reopen is not None:
            async with self._lock:
                session = await self._try_reopen(slot, reopen)
            if session is not None:
                return session
        while not self._stopping.is_set():
            async with self._lock:
                if self._stopping.is_set():
                    return None
                session, error = await self._try_open(slot)
            if session is not None:
                return session
            if isinstance(error, TokenUnavailableError):
                # not a failure to back off from: look again at the reader's pace, and say so once a minute
                self._token_wait.no_token(str(error))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), self._settings.token_poll_interval)
                continue
            delay = backoff.next_delay(error)
            log.warning(
                "could not open a socket; retrying",
                extra={
                    "shard": self.shard.id,
                    "slot": slot,
                    "error": f"{type(error).__name__}: {error}",
                    "retry_in": round(delay, 2),
                },
            )
            if await self._another_opened_within(delay):
                backoff.reset()
        return None

    async def _another_opened_within(self, delay: float) -> bool:
        """Wait ``delay`` (or until stopping); True, early, when another socket of this OAuth client is confirmed."""
        waits = {
            asyncio.create_task(self._budget.next_open().wait()),
            asyncio.create_task(self._stopping.wait()),
        }
        try:
            done, _ = await asyncio.wait(waits, timeout=delay, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in waits:
                task.cancel()
        return bool(done) and not self._stopping.is_set()

    def _session(self, token: TokenSecret, slot: int) -> SocketSession:
        return SocketSession(
            self.shard,
            token,
            api=self._api_for(token),
            connect=self._connect,
            sink=self._sink,
            run_blocking=self._run_blocking,
            timings=self._timings,
            on_rejected=self._report_rejected,
            slot=slot,
            clock=self._clock,
        )

    async def _tokens(self) -> list[TokenSecret]:
        """Tokens for a new channel, preferred first.

        A token in memory that no other socket of the shard uses is taken at once. Otherwise the secret is read
        for a fresher one, but only for ``FRESH_READ_WAIT`` when a held token can serve: AWS being slow or down
        never stops a socket.
        """
        life = self._settings.required_token_life
        held = self._reader.held(life)
        in_use = {s.token.access_token for s in self.sessions if s.live}
        if any(t.access_token not in in_use for t in held):
            return held
        read = asyncio.ensure_future(self._run_blocking(self._reader.alternatives, life))
        if not held:
            fresh: list[TokenSecret] = await read
            return fresh
        try:
            fresh = await asyncio.wait_for(asyncio.shield(read), FRESH_READ_WAIT)
        except Exception:  # slow or failing: the held token serves; the read finishes on its own
            read.add_done_callback(lambda task: task.cancelled() or task.exception())
            return held
        return fresh

    async def _try_reopen(self, slot: int, old: SocketSession) -> SocketSession | None:
        assert old.channel is not None
        session = self._session(old.token, slot)
        old.holds_budget = False  # the channel, and its place in the budget, pass to the new socket
        try:
            await session.reopen(old.channel, replacing=old)
        except OPEN_ERRORS as exc:
            old.holds_budget = True
            if old.ended.is_set():  # its tracker has already run: give its channel back now
                await self._budget.release()
            log.warning(
                "could not reopen the channel; making a new one",
                extra={"shard": self.shard.id, "slot": slot, "channel_id": old.channel_id, "error": type(exc).__name__},
            )
            return None
        self._started(session)
        return session

    async def _try_open(self, slot: int) -> tuple[SocketSession | None, BaseException | None]:
        try:
            tokens = await self._tokens()
        except TokenUnavailableError as exc:  # never put a token without enough life into a new channel
            return None, exc
        self._token_wait.token_ready()
        # prefer a token no other live socket of this shard uses: one token's death then never closes both
        in_use = {s.token.access_token for s in self.sessions if s.live}
        token = next((t for t in tokens if t.access_token not in in_use), tokens[0])
        await self._budget.acquire()
        session = self._session(token, slot)
        try:
            await self._make_room(session)
            await session.open([t for t in self.shard.topics if t not in self._rejected])
        except OPEN_ERRORS as exc:
            await self._budget.release()
            if isinstance(exc, BadCredentialsError):
                self._reader.reject(token)
                await self._run_blocking(self._reader.refresh)
            return None, exc
        except BaseException:
            await self._budget.release()
            raise
        self._started(session)
        return session, None

    async def _make_room(self, session: SocketSession) -> None:
        """Genesys makes room for a 21st channel by evicting the least recently used one: if the client is at the
        limit (other applications count too), make every channel of ours recently used first, so it is not ours."""
        channels = await self._run_blocking(session.api.client_channel_count)
        if channels >= MAX_CHANNELS_PER_CLIENT:
            log.warning(
                "the OAuth client is at Genesys' channel limit; touching ours before creating one",
                extra={"shard": self.shard.id, "channels": channels, "ours": len(self._budget.live)},
            )
            await asyncio.gather(*(s.touch() for s in list(self._budget.live)))

    def _started(self, session: SocketSession) -> None:
        assert session.confirmed_at is not None
        session.log.info("socket confirmed")
        self._budget.live.add(session)
        self._budget.opened()
        self.sessions.add(session)
        # the claim starts at the connection: a socket confirmed later was delivering since (same channel, same topics)
        self._ledger.confirmed(self.shard.id, session.channel_id, session.connected_at)
        self._coverage_changed(session.confirmed_at)
        tracker = asyncio.create_task(self._track(session))
        self._trackers.add(tracker)
        tracker.add_done_callback(self._trackers.discard)

    async def _track(self, session: SocketSession) -> None:
        await session.ended.wait()
        self.sessions.discard(session)
        self._budget.live.discard(session)
        if session.holds_budget:
            await self._budget.release()
        self._ledger.ended(
            self.shard.id, session.channel_id, session.connected_at, session.alive_until, session.end_reason
        )
        self._coverage_changed(session.alive_until)

    def _report_rejected(self, topics: list[ChannelTopic]) -> None:
        fresh = [t for t in topics if t.id not in self._rejected]
        for topic in fresh:
            self._rejected.add(topic.id)
            self._ledger.rejected(
                self.shard.org.name, topic.id, topic.rejection_reason or "", tuple(topic.missing_permissions)
            )
            log.error(
                "topic rejected by Genesys; it will not be requested again",
                extra={
                    "shard": self.shard.id,
                    "topic": topic.id,
                    "reason": topic.rejection_reason,
                    "missing": list(topic.missing_permissions),
                },
            )
        if fresh:
            self._metrics.count("RejectedTopics", len(fresh), org=self.shard.org.name)

    async def close(self) -> None:
        await asyncio.gather(*(s.retire("shutdown") for s in list(self.sessions)))
        await asyncio.gather(*self._trackers, return_exceptions=True)
