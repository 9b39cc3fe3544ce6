"""Lambda entry point, invoked by EventBridge Scheduler with ``{"scheduled_time": "<aws.scheduler.scheduled-time>"}``.

Input may also carry ``"force": true`` and ``"orgs": [...]`` to mint now for some orgs.
"""

from __future__ import annotations

import functools
import time
from datetime import datetime
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer, single_metric
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.mint_token.minter import Minter, OrgResult, schedule_slot
from functions.mint_token.policy import RefreshPolicy
from functions.orgs import ConfigError, OrgConfig, env_float, env_items, parse_orgs
from functions.secrets_store import SecretsStore
from genesys.http import new_http_client
from genesys.oauth import AccessToken, ClientCredentials, OAuthClient
from genesys.observability import metrics_namespace, quiet_sdk_loggers
from genesys.regions import resolve_hosts

quiet_sdk_loggers()
logger = Logger(service="token-minter")
tracer = Tracer(service="token-minter")
metrics = Metrics(service="token-minter", namespace=metrics_namespace())
SAFETY_MARGIN = 3.0  # seconds kept free before the Lambda timeout
_ENV_KEYS = (
    "ORGS",
    "SCHEDULE_PERIOD_SECONDS",
    "ROTATION_LEAD_SECONDS",
    "REFRESH_FRACTION",
    "RETRY_ALLOWANCE_SECONDS",
    "AWS_ENDPOINT_URL",
    "GENESYS_LOGIN_URL",
)


class Runtime:
    def __init__(self, env: dict[str, str]) -> None:
        self.orgs = parse_orgs(env)
        try:
            self.policy = RefreshPolicy(
                fraction=env_float(env, "REFRESH_FRACTION", 0.5),
                schedule_period=env_float(env, "SCHEDULE_PERIOD_SECONDS", 300, minimum=1),
                rotation_lead=env_float(env, "ROTATION_LEAD_SECONDS", 600),
                retry_allowance=env_float(env, "RETRY_ALLOWANCE_SECONDS", 120),
            )
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        self.http = new_http_client()
        self.minter = Minter(SecretsStore(), self.grant, self.policy)

    def grant(self, org: OrgConfig, credentials: ClientCredentials) -> AccessToken:
        return OAuthClient(resolve_hosts(org.environment).login_url, self.http).client_credentials(credentials)


@functools.lru_cache(maxsize=4)
def _runtime(env_items: tuple[tuple[str, str], ...]) -> Runtime:
    return Runtime(dict(env_items))


def runtime() -> Runtime:
    return _runtime(env_items(_ENV_KEYS))


def _scheduled_time(event: dict[str, Any]) -> float:
    raw = event.get("scheduled_time")
    if not raw:
        return time.time()
    try:
        return datetime.fromisoformat(str(raw).replace("Z", "+00:00")).timestamp()
    except ValueError:
        logger.warning("scheduled_time is not ISO-8601; using now", extra={"scheduled_time": str(raw)[:40]})
        return time.time()


def _emit(result: OrgResult) -> None:
    for name, unit, value in (
        ("TokenMinted", MetricUnit.Count, 1.0 if result.outcome == "minted" else 0.0),
        ("TokenMintFailed", MetricUnit.Count, 1.0 if result.failed else 0.0),
        ("TokenRemainingSeconds", MetricUnit.Seconds, round(result.remaining, 1)),
    ):
        with single_metric(name=name, unit=unit, value=value, namespace=metrics.namespace) as metric:
            metric.add_dimension("org", result.org)


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
