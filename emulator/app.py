"""The emulator's HTTP and websocket surface (Starlette)."""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from emulator.analytics_api import ROUTES as ANALYTICS_ROUTES
from emulator.faults import FaultError, apply_fault
from emulator.saml import InvalidAssertionError, parse_assertion
from emulator.state import HEARTBEAT_FRAME, PONG_FRAME, GenesysState, Rejection, SocketConn, Token
from genesys.oauth import SAML2_BEARER_GRANT
from genesys.topics import TOPIC_TEMPLATES

log = logging.getLogger("emulator")
Dropper = Callable[[Any], bool]
Pauser = Callable[[Any, float], bool]
Buffered = Callable[[Any], int]  # bytes written to a connection that its client has not taken yet
CHANNELS = "/api/v2/notifications/channels"


def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    body = {"status": status, "code": code, "message": message}
    return JSONResponse(body, status_code=status, headers=headers)


def _oauth_error(status: int, error: str, description: str) -> JSONResponse:
    return JSONResponse({"error": error, "error_description": description}, status_code=status)


def _failure_response(state: GenesysState, target: str) -> JSONResponse | None:
    failure = state.take_failure(target)
    if failure is None:
        return None
    headers = {"Retry-After": str(int(failure.retry_after))} if failure.status == 429 else None
    return _error(failure.status, "injected.failure", "injected failure", headers)


class RestGate(BaseHTTPMiddleware):
    """Every /api/v2 call: injected failures first, then bearer auth and the per-token rate limit."""

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        if not request.url.path.startswith("/api/v2/"):
            return await call_next(request)
        state: GenesysState = request.app.state.genesys
        injected = _failure_response(state, "rest")
        if injected is not None:
            return injected
        try:
            request.state.token = state.authorize(request.headers.get("Authorization"))
        except Rejection as rejection:
            return _error(rejection.status, rejection.code, rejection.message, rejection.headers)
        return await call_next(request)


def _basic_auth(request: Request) -> tuple[str, str] | None:
    header = request.headers.get("Authorization", "")
    if not header.lower().startswith("basic "):
        return None
    try:
        client_id, _, secret = base64.b64decode(header[6:].strip(), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return client_id, secret


async def oauth_token(request: Request) -> Response:
    state: GenesysState = request.app.state.genesys
    injected = _failure_response(state, "oauth")
    if injected is not None:
        return injected
    # urlencoded form, parsed with the standard library (no multipart support needed)
    form = {k: v[0] for k, v in parse_qs((await request.body()).decode("utf-8", "replace")).items()}
    grant = str(form.get("grant_type", ""))
    auth = _basic_auth(request)
    if auth is None:
        return _oauth_error(401, "invalid_client", "client authentication failed")
    client_id, secret = auth
    config = state.config
    if grant == "client_credentials":
        if config.clients.get(client_id) != secret or not secret:
            return _oauth_error(401, "invalid_client", "client authentication failed")
        token = state.issue_token(client_id, grant)
    elif grant == SAML2_BEARER_GRANT:
        if config.saml_clients.get(client_id) != secret or not secret:
            return _oauth_error(401, "invalid_client", "client authentication failed")
        if form.get("orgName") != config.org_name:
            return _oauth_error(400, "invalid_request", "unknown orgName")
        try:
            assertion = parse_assertion(
                str(form.get("assertion", "")), issuer=config.saml_issuer, now=datetime.now(UTC)
            )
        except InvalidAssertionError as exc:
            return _oauth_error(400, "invalid_grant", str(exc))
        token = state.issue_token(client_id, grant, subject=assertion.subject)
    else:
        return _oauth_error(400, "unsupported_grant_type", f"grant type {grant!r} is not supported")
    return JSONResponse({"access_token": token.value, "token_type": "bearer", "expires_in": int(config.token_lifetime)})


def _token(request: Request) -> Token:
    token: Token = request.state.token
    return token


async def create_channel(request: Request) -> Response:
    state: GenesysState = request.app.state.genesys
    ws_base = f"ws://{request.url.netloc}"
    try:
        return JSONResponse(state.create_channel(_token(request), ws_base).as_json())
    except Rejection as rejection:
        return _error(rejection.status, rejection.code, rejection.message, rejection.headers)


async def list_channels(request: Request) -> Response:
    state: GenesysState = request.app.state.genesys
    token = _token(request)
    include = request.query_params.get("includechannels", "token")
    if include == "oauthclient":
        chosen = [c for c in state.channels.values() if c.client_id == token.client_id]
    else:
        chosen = [c for c in state.channels.values() if c.token == token.value]
    return JSONResponse({"entities": [c.as_json() for c in chosen]})


async def head_channel(request: Request) -> Response:
    state: GenesysState = request.app.state.genesys
    try:
        state.owned_channel(_token(request), request.path_params["channel_id"])
    except Rejection as rejection:
        return Response(status_code=rejection.status)
    return Response(status_code=200)


async def subscriptions(request: Request) -> Response:
    state: GenesysState = request.app.state.genesys
    try:
        channel = state.owned_channel(_token(request), request.path_params["channel_id"])
        if request.method == "GET":
            entities = [state.topic_entity(channel, t) for t in channel.topics]
        elif request.method == "DELETE":
            channel.topics = {}
            return Response(status_code=204)
        else:
            topics = _topic_ids(await request.body())
            ignore = request.query_params.get("ignoreErrors", "false").lower() == "true"
            mode = "replace" if request.method == "PUT" else "add"
            entities = state.change_subscriptions(channel, topics, mode=mode, ignore_errors=ignore)
    except Rejection as rejection:
        return _error(rejection.status, rejection.code, rejection.message)
    return JSONResponse({"entities": entities})


def _topic_ids(raw: bytes) -> list[str]:
    try:
        body = json.loads(raw or b"[]")
    except ValueError:
        raise Rejection(400, "bad.request", "body is not JSON") from None
    if not isinstance(body, list) or not all(isinstance(e, dict) and isinstance(e.get("id"), str) for e in body):
        raise Rejection(400, "bad.request", 'body must be a list of {"id": topic}')
    return [e["id"] for e in body]


async def available_topics(request: Request) -> Response:
    entities = [{"id": t.template, "description": t.description} for t in TOPIC_TEMPLATES]
    return JSONResponse({"entities": entities})


async def ground_truth(request: Request) -> Response:
    state: GenesysState = request.app.state.genesys
    try:
        since = int(request.query_params.get("since", "0"))
        limit = int(request.query_params.get("limit", "10000"))
    except ValueError:
        return _error(400, "bad.request", "since and limit must be integers")
    chosen = state.events[since : since + max(0, limit)]
    next_seq = chosen[-1].seq if chosen else since
    return JSONResponse({"events": [e.as_json() for e in chosen], "next": next_seq, "total": len(state.events)})


async def emulator_state(request: Request) -> Response:
    state: GenesysState = request.app.state.genesys
    return JSONResponse(state.snapshot())


async def faults(request: Request) -> Response:
    state: GenesysState = request.app.state.genesys
    try:
        spec = json.loads(await request.body())
        if not isinstance(spec, dict):
            raise FaultError("fault must be a JSON object")
        return JSONResponse(apply_fault(state, spec))
    except (ValueError, FaultError) as exc:
        return _error(400, "bad.request", str(exc))


async def _writer(ws: WebSocket, conn: SocketConn, state: GenesysState, dropper: Dropper, pauser: Pauser) -> None:
    while True:
        item = await conn.outbox.get()
        if item.half_open is not None:
            if not pauser(ws.scope.get("client"), item.half_open):
                log.warning("could not pause the transport; the socket is only silenced")
            continue
        if item.drop:
            if not dropper(ws.scope.get("client")):
                log.warning("could not abort the transport; sending a close frame instead")
                await ws.close(1001)
            return
        if item.close is not None:
            code, reason = item.close
            with contextlib.suppress(RuntimeError):
                await ws.close(code, reason)
            return
        if item.text is None or state.clock() < conn.silenced_until:
            continue
        await ws.send_text(item.text)
        if item.event is not None:
            item.event.channels.append(conn.channel_id)


async def _heartbeats(conn: SocketConn, state: GenesysState) -> None:
    while not conn.finished:
        await asyncio.sleep(state.config.heartbeat_interval)
        if state.clock() >= conn.heartbeats_paused_until:
            conn.send(HEARTBEAT_FRAME)


def _handle_client_message(state: GenesysState, conn: SocketConn, text: str) -> None:
    try:
        message = json.loads(text)
    except ValueError:
        return
    if not isinstance(message, dict):
        return
    channel = state.channels.get(conn.channel_id)
    if channel is not None:
        channel.last_used = state.clock()
    if message.get("message") == "ping":
        conn.send(PONG_FRAME)
    elif message.get("message") == "subscribe":
        conn.send(state.subscribe_over_socket(conn, message))


async def channel_socket(ws: WebSocket) -> None:
    state: GenesysState = ws.app.state.genesys
    dropper: Dropper = ws.app.state.dropper
    pauser: Pauser = ws.app.state.pauser
    await ws.accept()
    channel = state.connectable(ws.path_params["channel_id"])
    if channel is None:
        await ws.send_text(json.dumps({"result": "404", "status": "channel not found"}))
        await ws.close(1000, "channel not found")
        return
    conn = SocketConn(channel.id, ws.scope.get("client"), state.clock())
    state.attach(channel, conn)
    writer = asyncio.create_task(_writer(ws, conn, state, dropper, pauser))
    heartbeat = asyncio.create_task(_heartbeats(conn, state))
    receiver = asyncio.create_task(_receive(ws, conn, state))
    slow = asyncio.create_task(_slow_reader_watch(ws, conn, state))
    try:
        await asyncio.wait({writer, receiver, slow}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        slow.cancel()
        state.detach(conn)
        for task in (writer, heartbeat, receiver):
            task.cancel()
        await asyncio.gather(writer, heartbeat, receiver, return_exceptions=True)


async def _slow_reader_watch(ws: WebSocket, conn: SocketConn, state: GenesysState) -> None:
    """The slow-reader switch: drop a socket whose client leaves too much, or for too long, unread. The server
    writes without waiting, so what the client has not taken waits in the transport's buffer."""
    limit, patience = state.config.slow_reader_bytes, state.config.slow_reader_seconds
    if limit is None and patience is None:
        await asyncio.Event().wait()  # switched off: never returns
        return
    buffered: Buffered = ws.app.state.buffered
    dropper: Dropper = ws.app.state.dropper
    since: float | None = None
    while True:
        await asyncio.sleep(state.config.tick_interval)
        waiting = buffered(ws.scope.get("client"))
        now = state.clock()
        since = None if not waiting else (since if since is not None else now)
        too_much = limit is not None and waiting >= limit
        too_long = patience is not None and since is not None and now - since >= patience
        if too_much or too_long:
            log.warning("client stopped reading; dropping its socket", extra={"unsent_bytes": waiting})
            conn.finished = True
            dropper(ws.scope.get("client"))
            return


async def _receive(ws: WebSocket, conn: SocketConn, state: GenesysState) -> None:
    with contextlib.suppress(WebSocketDisconnect):
        while True:
            _handle_client_message(state, conn, await ws.receive_text())


async def _ticker(state: GenesysState) -> None:
    loop = asyncio.get_running_loop()
    last = loop.time()
    while True:
        await asyncio.sleep(state.config.tick_interval)
        now = loop.time()
        try:
            state.tick(now - last)
        except Exception:  # the emulator must keep running for the tests that observe it
            log.exception("emulator tick failed")
        last = now


def build_app(
    state: GenesysState, dropper: Dropper, pauser: Pauser, buffered: Buffered = lambda client: 0
) -> Starlette:
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        ticker = asyncio.create_task(_ticker(state))
        try:
            yield
        finally:
            ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ticker

    routes = [
        Route("/oauth/token", oauth_token, methods=["POST"]),
        Route(CHANNELS, create_channel, methods=["POST"]),
        Route(CHANNELS, list_channels, methods=["GET"]),
        Route(CHANNELS + "/{channel_id}", head_channel, methods=["HEAD"]),
        Route(CHANNELS + "/{channel_id}/subscriptions", subscriptions, methods=["GET", "POST", "PUT", "DELETE"]),
        Route("/api/v2/notifications/availabletopics", available_topics, methods=["GET"]),
        *ANALYTICS_ROUTES,
        Route("/_emulator/events", ground_truth, methods=["GET"]),
        Route("/_emulator/state", emulator_state, methods=["GET"]),
        Route("/_emulator/faults", faults, methods=["POST"]),
        WebSocketRoute("/channels/{channel_id}", channel_socket),
    ]
    app = Starlette(routes=routes, middleware=[Middleware(RestGate)], lifespan=lifespan)
    app.state.genesys = state
    app.state.dropper = dropper
    app.state.pauser = pauser
    app.state.buffered = buffered
    return app
