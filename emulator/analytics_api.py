"""The HTTP side of emulator/analytics.py: routes behind the same bearer auth, rate limit and injected failures as
every /api/v2 call (a 429 storm is the ``fail_requests`` fault with status 429)."""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from emulator.analytics import MAX_DAYS, MAX_DAYS_FILTERED, PERMISSIONS, BadRequest, Ground, interval_of, page
from emulator.state import GenesysState
from genesys.timefmt import iso_ms

ANALYTICS = "/api/v2/analytics"
AUDITS = "/api/v2/audits/query"


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"status": status, "code": code, "message": message}, status_code=status)


def _ground(state: GenesysState) -> Ground:
    now = state.clock() - state.config.analytics_availability_lag  # not yet in the data lake: not found
    return Ground.of((e.topic, e.envelope["eventBody"], e.published_at) for e in state.events if e.published_at <= now)


def _forbidden(state: GenesysState, api: str) -> JSONResponse | None:
    if api in state.config.forbidden_apis:
        return _error(403, "missing.permissions", f"You are missing the following permission(s): {PERMISSIONS[api]}")
    return None


async def _body(request: Request) -> dict[str, Any]:
    try:
        value = json.loads(await request.body() or b"{}")
    except ValueError:
        raise BadRequest("the body is not JSON") from None
    if not isinstance(value, dict):
        raise BadRequest("the body must be a JSON object")
    return value


def _rng(state: GenesysState) -> random.Random:
    return random.Random(state.config.seed + len(state.events))


async def _details(
    request: Request,
    api: str,
    field: str,
    query: Callable[[Ground, float, float, dict[str, Any]], list[dict[str, Any]]],
    max_days: Callable[[dict[str, Any]], int],
) -> Response:
    """One details query: permission, interval limit, the records from ground truth, one page of them."""
    state: GenesysState = request.app.state.genesys
    if (denied := _forbidden(state, api)) is not None:
        return denied
    try:
        body = await _body(request)
        start, end = interval_of(body, max_days=max_days(body))
        answer = page(
            query(_ground(state), start, end, body),
            body,
            _rng(state),
            repeat=state.config.analytics_repeat,
            jitter=state.config.analytics_total_jitter,
        )
    except BadRequest as exc:
        return _error(400, "bad.request", str(exc))
    if "records" in answer:
        answer[field] = answer.pop("records")
    return JSONResponse(answer)


async def conversation_details(request: Request) -> Response:
    return await _details(request, "conversations", "conversations", Ground.conversation_details, lambda body: MAX_DAYS)


def _user_days(body: dict[str, Any]) -> int:
    """7 days without filters, 31 with."""
    filtered = body.get("userFilters") or body.get("presenceFilters") or body.get("routingStatusFilters")
    return MAX_DAYS_FILTERED if filtered else MAX_DAYS


async def user_details(request: Request) -> Response:
    return await _details(request, "users", "userDetails", Ground.user_details, _user_days)


async def availability(request: Request) -> Response:
    state: GenesysState = request.app.state.genesys
    return JSONResponse({"dataAvailabilityDate": iso_ms(state.clock() - state.config.analytics_availability_lag)})


async def audit_query(request: Request) -> Response:
    """Starts a transaction; its results are ready at the first poll after (async, as Genesys runs them)."""
    state: GenesysState = request.app.state.genesys
    if (denied := _forbidden(state, "audits")) is not None:
        return denied
    try:
        body = await _body(request)
        start, end = interval_of(body, max_days=MAX_DAYS)
    except BadRequest as exc:
        return _error(400, "bad.request", str(exc))
    transaction = str(uuid.uuid4())
    state.audit_transactions[transaction] = {"records": _ground(state).audit_records(start, end), "polled": 0}
    return JSONResponse({"id": transaction, "state": "Queued"}, status_code=202)


async def audit_state(request: Request) -> Response:
    state: GenesysState = request.app.state.genesys
    found = state.audit_transactions.get(request.path_params["transaction"])
    if found is None:
        return _error(404, "not.found", "no such transaction")
    found["polled"] += 1
    return JSONResponse(
        {"id": request.path_params["transaction"], "state": "Succeeded" if found["polled"] > 1 else "Running"}
    )


async def audit_results(request: Request) -> Response:
    state: GenesysState = request.app.state.genesys
    found = state.audit_transactions.get(request.path_params["transaction"])
    if found is None:
        return _error(404, "not.found", "no such transaction")
    if found["polled"] < 2:
        return _error(400, "transaction.not.complete", "the query has not completed")
    size = int(request.query_params.get("pageSize", 25))
    if not 1 <= size <= 500:
        return _error(400, "bad.request", "pageSize must be 1..500")
    offset = int(request.query_params.get("cursor") or 0)
    chunk = found["records"][offset : offset + size]
    answer: dict[str, Any] = {"entities": chunk, "pageSize": size}
    if offset + size < len(found["records"]):
        answer["cursor"] = str(offset + size)
    return JSONResponse(answer)


ROUTES = [
    Route(f"{ANALYTICS}/conversations/details/query", conversation_details, methods=["POST"]),
    Route(f"{ANALYTICS}/conversations/details/jobs/availability", availability, methods=["GET"]),
    Route(f"{ANALYTICS}/users/details/query", user_details, methods=["POST"]),
    Route(AUDITS, audit_query, methods=["POST"]),
    Route(AUDITS + "/{transaction}", audit_state, methods=["GET"]),
    Route(AUDITS + "/{transaction}/results", audit_results, methods=["GET"]),
]
