"""Lambda entry point, invoked by EventBridge Scheduler with ``{"scheduled_time": "<aws.scheduler.scheduled-time>"}``.

Input may also carry ``"force": true`` and ``"orgs": [...]`` to mint now for some orgs.
"""

from __future__ import annotations

import time
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import Field

from functions.common import OrgsEnv, RuntimeCache, observability
from functions.mint_token.minter import Minter, OrgResult, schedule_slot
from functions.mint_token.policy import RefreshPolicy
from functions.orgs import OrgConfig
from functions.secrets_store import SecretsStore
from genesys.http import new_http_client
from genesys.oauth import AccessToken, ClientCredentials, OAuthClient
from genesys.observability import emit_metric
from genesys.regions import resolve_hosts
from genesys.timefmt import parse_iso

obs = observability("token-minter")
logger, tracer, metrics = obs.logger, obs.tracer, obs.metrics
SAFETY_MARGIN = 3.0  # seconds kept free before the Lambda timeout


class MinterEnv(OrgsEnv):
    schedule_period_seconds: float = Field(300, ge=1)
    rotation_lead_seconds: float = Field(600, ge=0)
    refresh_fraction: float = Field(0.5, gt=0, lt=1)
    retry_allowance_seconds: float = Field(120, ge=0)


class Runtime:
    def __init__(self, env: MinterEnv) -> None:
        self.orgs = {o.name: o for o in env.orgs}
        self.policy = RefreshPolicy(
            fraction=env.refresh_fraction,
            schedule_period=env.schedule_period_seconds,
            rotation_lead=env.rotation_lead_seconds,
            retry_allowance=env.retry_allowance_seconds,
        )
        self.http = new_http_client()
        self.minter = Minter(SecretsStore(), self.grant, self.policy)

    def grant(self, org: OrgConfig, credentials: ClientCredentials) -> AccessToken:
        return OAuthClient(resolve_hosts(org.environment).login_url, self.http).client_credentials(credentials)


runtime = RuntimeCache(MinterEnv, Runtime)


def _scheduled_time(event: dict[str, Any]) -> float:
    raw = event.get("scheduled_time")
    if not raw:
        return time.time()
    try:
        return parse_iso(str(raw)).timestamp()
    except ValueError:
        logger.warning("scheduled_time is not ISO-8601; using now", extra={"scheduled_time": str(raw)[:40]})
        return time.time()


def _emit(result: OrgResult) -> None:
    for name, unit, value in (
        ("TokenMinted", MetricUnit.Count, 1.0 if result.outcome == "minted" else 0.0),
        ("TokenMintFailed", MetricUnit.Count, 1.0 if result.failed else 0.0),
        ("TokenRemainingSeconds", MetricUnit.Seconds, round(result.remaining, 1)),
    ):
        emit_metric(name, unit, value, metrics.namespace, {"org": result.org})


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler(capture_response=False)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    rt = runtime()
    force = bool(event.get("force", False))
    wanted = event.get("orgs") or list(rt.orgs)
    unknown = [name for name in wanted if name not in rt.orgs]
    if unknown:
        logger.error("unknown orgs requested", extra={"orgs": unknown})
    slot = schedule_slot(_scheduled_time(event), rt.policy.schedule_period)
    if force:
        slot = f"forced/{context.aws_request_id}"
    deadline = time.time() + context.get_remaining_time_in_millis() / 1000 - SAFETY_MARGIN
    results: list[OrgResult] = []
    for name in (n for n in wanted if n in rt.orgs):
        try:
            result = rt.minter.run(rt.orgs[name], slot=slot, force=force, deadline=deadline)
        except Exception as exc:  # one org's trouble never stops the others
            logger.exception("mint crashed for org", extra={"org": name})
            result = OrgResult(name, "failed", 0.0, f"unexpected {type(exc).__name__}")
        log = logger.error if result.failed else logger.info
        log(
            "token mint outcome",
            extra={
                "org": name,
                "outcome": result.outcome,
                "remaining_s": round(result.remaining),
                "detail": result.detail,
            },
        )
        _emit(result)
        results.append(result)
    return {"slot": slot, "results": [_as_dict(r) for r in results], "unknown_orgs": unknown}


def _as_dict(result: OrgResult) -> dict[str, Any]:
    return {
        "org": result.org,
        "outcome": result.outcome,
        "remaining": round(result.remaining, 1),
        "detail": result.detail,
    }
