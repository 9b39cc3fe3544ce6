"""HTTP API (payload v2) behind a JWT authorizer: the authorizer has verified the caller's IdP token.

GET  /orgs/{org}/token        -> the org's cached Genesys token, if the access policy allows the caller
POST /orgs/{org}/saml-token   -> {"assertion": "<base64 SAML>"} exchanged for a user-scoped Genesys token
"""

from __future__ import annotations

import functools
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import BadRequestError, ForbiddenError, NotFoundError
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parameters import SecretsProvider
from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.orgs import OrgConfig, env_float, env_items, parse_orgs
from functions.secrets_store import RETRIES
from functions.vend_token.access import AccessPolicy
from functions.vend_token.vending import SamlNotConfiguredError, TokenVendor, UnknownOrgError, Vended
from genesys.errors import BadCredentialsError, GenesysError, RateLimitedError, RequestRejectedError
from genesys.http import new_http_client
from genesys.oauth import AccessToken, ClientCredentials, OAuthClient
from genesys.observability import metrics_namespace, quiet_sdk_loggers
from genesys.regions import resolve_hosts
from genesys.token_reader import TokenUnavailableError

quiet_sdk_loggers()
logger = Logger(service="token-vendor")
tracer = Tracer(service="token-vendor")
metrics = Metrics(service="token-vendor", namespace=metrics_namespace())
app = APIGatewayHttpResolver()
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
_ENV_KEYS = ("ORGS", "ACCESS_POLICY", "MIN_REMAINING_SECONDS", "CACHE_MAX_AGE_SECONDS", "AWS_ENDPOINT_URL")


class Runtime:
    def __init__(self, env: dict[str, str]) -> None:
        self.orgs = parse_orgs(env)
        self.policy = AccessPolicy.from_json(env.get("ACCESS_POLICY"))
        self.secrets_client = boto3.client("secretsmanager", config=RETRIES)
        self.http = new_http_client()
        self.vendor = TokenVendor(
            self.orgs,
            SecretsProvider(boto3_client=self.secrets_client),
            min_remaining=env_float(env, "MIN_REMAINING_SECONDS", 300),
            max_age=int(env_float(env, "CACHE_MAX_AGE_SECONDS", 300, minimum=1)),
            saml_grant=self.saml_grant,
        )

    def saml_grant(self, org: OrgConfig, credentials: ClientCredentials, assertion: str) -> AccessToken:
        assert org.saml is not None
        oauth = OAuthClient(resolve_hosts(org.environment).login_url, self.http)
        return oauth.saml2_bearer(credentials, org_name=org.saml.org_name, assertion=assertion)


@functools.lru_cache(maxsize=4)
def _runtime(items: tuple[tuple[str, str], ...]) -> Runtime:
    return Runtime(dict(items))


def runtime() -> Runtime:
    return _runtime(env_items(_ENV_KEYS))


def _authorize(org: str) -> None:
    rt = runtime()
    if org not in rt.orgs:
        raise NotFoundError(f"unknown org {org}")
    authorizer = app.current_event.request_context.authorizer
    if not rt.policy.allows(org, authorizer.jwt_claim, authorizer.jwt_scopes):
        logger.warning("token request denied", extra={"org": org, "sub": authorizer.jwt_claim.get("sub")})
        metrics.add_metric(name="VendDenied", unit=MetricUnit.Count, value=1)
        raise ForbiddenError("not allowed to get a token for this org")


def _ok(vended: Vended) -> Response[Any]:
    return Response(200, content_types.APPLICATION_JSON, vended.body(), headers=NO_STORE)


@app.get("/orgs/<org>/token")
@tracer.capture_method(capture_response=False)
def get_token(org: str) -> Response[Any]:
    _authorize(org)
    vended = runtime().vendor.vend(org)
    metrics.add_metric(name="TokenVended", unit=MetricUnit.Count, value=1)
    return _ok(vended)


@app.post("/orgs/<org>/saml-token")
@tracer.capture_method(capture_response=False)
def exchange_saml(org: str) -> Response[Any]:
    _authorize(org)
    body = app.current_event.json_body if app.current_event.body else None
    assertion = body.get("assertion") if isinstance(body, dict) else None
    if not isinstance(assertion, str) or not assertion:
        raise BadRequestError('body must be {"assertion": "<base64 SAML assertion>"}')
    try:
        vended = runtime().vendor.exchange_saml(org, assertion)
    except SamlNotConfiguredError:
        raise NotFoundError(f"org {org} has no SAML2 bearer client configured") from None
    except RequestRejectedError as exc:
        logger.info("saml assertion refused by Genesys", extra={"org": org, "status": exc.status})
        raise BadRequestError("the SAML assertion was refused") from None
    metrics.add_metric(name="SamlTokenExchanged", unit=MetricUnit.Count, value=1)
    return _ok(vended)


def _unavailable(exc: TokenUnavailableError) -> Response[Any]:
    logger.error("no token with enough life", extra={"reason": str(exc)})
    metrics.add_metric(name="VendUnavailable", unit=MetricUnit.Count, value=1)
    return _error(
        503, "no token with enough life is available; retry later", {"Retry-After": str(int(exc.retry_after))}
    )


def _rate_limited(exc: RateLimitedError) -> Response[Any]:
    return _error(503, "Genesys is rate limiting; retry later", {"Retry-After": str(int(exc.retry_after))})


def _upstream(exc: GenesysError) -> Response[Any]:
    level = logger.error if not isinstance(exc, BadCredentialsError) else logger.critical
    level("upstream failure", extra={"error": type(exc).__name__, "reason": str(exc)})
    return _error(502, "Genesys could not be reached or refused the bridge's credentials")


def _unknown(exc: UnknownOrgError) -> Response[Any]:
    return _error(404, f"unknown org {exc}")


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> Response[Any]:
    return Response(
        status,
        content_types.APPLICATION_JSON,
        {"statusCode": status, "message": message},
        headers={**NO_STORE, **(headers or {})},
    )


# registered by call: Powertools' decorator is untyped
app.exception_handler(TokenUnavailableError)(_unavailable)
app.exception_handler(RateLimitedError)(_rate_limited)
app.exception_handler(GenesysError)(_upstream)
app.exception_handler(UnknownOrgError)(_unknown)


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
