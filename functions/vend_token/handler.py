"""HTTP API (payload v2) behind a JWT authorizer: the authorizer has verified the caller's IdP token.

GET  /orgs/{org}/token        -> the org's cached Genesys token, if the access policy allows the caller
POST /orgs/{org}/saml-token   -> {"assertion": "<base64 SAML>"} exchanged for a user-scoped Genesys token
"""

# no postponed annotations here: Powertools validation reads the route signatures at run time

from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import BadRequestError, ForbiddenError, NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.utilities.parameters import SecretsProvider
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ConfigDict, Field, Json

from functions.common import OrgsEnv, RuntimeCache, observability
from functions.orgs import OrgConfig
from functions.secrets_store import new_secrets_client
from functions.vend_token.access import AccessPolicy
from functions.vend_token.vending import SamlNotConfiguredError, TokenVendor, UnknownOrgError, Vended
from genesys.errors import BadCredentialsError, GenesysError, RateLimitedError, RequestRejectedError
from genesys.http import new_http_client
from genesys.oauth import AccessToken, ClientCredentials, OAuthClient
from genesys.observability import add_counts
from genesys.regions import resolve_hosts
from genesys.token_reader import TokenUnavailableError

obs = observability("token-vendor")
logger, tracer, metrics = obs.logger, obs.tracer, obs.metrics
app = APIGatewayHttpResolver(enable_validation=True)
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
SAML_BODY = 'body must be {"assertion": "<base64 SAML assertion>"}'


class VendEnv(OrgsEnv):
    access_policy: Json[AccessPolicy]
    min_remaining_seconds: float = Field(300, ge=0)
    cache_max_age_seconds: int = Field(300, ge=1)


class SamlExchange(BaseModel):
    model_config = ConfigDict(extra="ignore")
    assertion: str = Field(min_length=1, description="base64 SAML assertion from the IdP")


class Runtime:
    def __init__(self, env: VendEnv) -> None:
        self.orgs = {o.name: o for o in env.orgs}
        self.policy = env.access_policy
        self.secrets_client = new_secrets_client()
        self.http = new_http_client()
        self.vendor = TokenVendor(
            self.orgs,
            SecretsProvider(boto3_client=self.secrets_client),
            min_remaining=env.min_remaining_seconds,
            max_age=env.cache_max_age_seconds,
            saml_grant=self.saml_grant,
        )

    def saml_grant(self, org: OrgConfig, credentials: ClientCredentials, assertion: str) -> AccessToken:
        assert org.saml is not None
        oauth = OAuthClient(resolve_hosts(org.environment).login_url, self.http)
        return oauth.saml2_bearer(credentials, org_name=org.saml.org_name, assertion=assertion)


runtime = RuntimeCache(VendEnv, Runtime)


def _authorize(org: str) -> None:
    rt = runtime()
    if org not in rt.orgs:
        raise NotFoundError(f"unknown org {org}")
    authorizer = app.current_event.request_context.authorizer
    if not rt.policy.allows(org, authorizer.jwt_claim, authorizer.jwt_scopes):
        logger.warning("token request denied", extra={"org": org, "sub": authorizer.jwt_claim.get("sub")})
        add_counts(metrics, {"VendDenied": 1})
        raise ForbiddenError("not allowed to get a token for this org")


def _ok(vended: Vended) -> Response[Any]:
    return Response(200, content_types.APPLICATION_JSON, vended.body(), headers=NO_STORE)


@app.get("/orgs/<org>/token")
@tracer.capture_method(capture_response=False)
def get_token(org: str) -> Response[Any]:
    _authorize(org)
    vended = runtime().vendor.vend(org)
    add_counts(metrics, {"TokenVended": 1})
    return _ok(vended)


@app.post("/orgs/<org>/saml-token")
@tracer.capture_method(capture_response=False)
def exchange_saml(org: str, body: SamlExchange) -> Response[Any]:
    _authorize(org)
    try:
        vended = runtime().vendor.exchange_saml(org, body.assertion)
    except SamlNotConfiguredError:
        raise NotFoundError(f"org {org} has no SAML2 bearer client configured") from None
    except RequestRejectedError as exc:
        logger.info("saml assertion refused by Genesys", extra={"org": org, "status": exc.status})
        raise BadRequestError("the SAML assertion was refused") from None
    add_counts(metrics, {"SamlTokenExchanged": 1})
    return _ok(vended)


def _unavailable(exc: TokenUnavailableError) -> Response[Any]:
    logger.error("no token with enough life", extra={"reason": str(exc)})
    add_counts(metrics, {"VendUnavailable": 1})
    return _error(
        503, "no token with enough life is available; retry later", {"Retry-After": str(int(exc.retry_after))}
    )


def _rate_limited(exc: RateLimitedError) -> Response[Any]:
    return _error(503, "Genesys is rate limiting; retry later", {"Retry-After": str(int(exc.retry_after))})


def _upstream(exc: GenesysError) -> Response[Any]:
    level = logger.error if not isinstance(exc, BadCredentialsError) else logger.critical
    level("upstream failure", extra={"error": type(exc).__name__, "reason": str(exc)})
    return _error(502, "Genesys could not be reached or refused the bridge's credentials")


def _invalid_request(exc: RequestValidationError) -> Response[Any]:
    # the request body never goes into the answer or the log: it may hold an assertion
    return _error(400, SAML_BODY)


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
app.exception_handler(RequestValidationError)(_invalid_request)


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
