"""Token service: credentials and token secrets, the scheduled minter, and the SSO-gated vend API."""

from __future__ import annotations

import json

import jsii
from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_apigatewayv2 as apigwv2
from aws_cdk import aws_apigatewayv2_authorizers as authorizers
from aws_cdk import aws_apigatewayv2_integrations as integrations
from aws_cdk import aws_lambda_destinations as destinations
from aws_cdk import aws_logs as logs
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_scheduler_targets as targets
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from genesys.oauth import CREDENTIALS_PLACEHOLDER
from genesys.token_secret import credentials_secret_name, saml_client_secret_name
from infra.bundling import bridge_function
from infra.config import BridgeConfig
from infra.retention import retention

# HTTP API access-log variables only ($context.resourcePath and the like belong to REST APIs and fail the stage)
ACCESS_LOG_FORMAT = {
    "requestId": "$context.requestId",
    "ip": "$context.identity.sourceIp",
    "requestTime": "$context.requestTime",
    "httpMethod": "$context.httpMethod",
    "routeKey": "$context.routeKey",
    "path": "$context.path",
    "status": "$context.status",
    "protocol": "$context.protocol",
    "responseLength": "$context.responseLength",
    "responseLatency": "$context.responseLatency",
    "integrationError": "$context.integrationErrorMessage",
    "authorizerError": "$context.authorizer.error",
    "sub": "$context.authorizer.claims.sub",
}


@jsii.implements(apigwv2.IAccessLogSettings)
class _AccessLogs:
    def __init__(self, log_group: logs.ILogGroup) -> None:
        self._destination = apigwv2.LogGroupLogDestination(log_group)

    @property
    def destination(self) -> apigwv2.IAccessLogDestination:
        return self._destination

    @property
    def format(self) -> apigw.AccessLogFormat:
        return apigw.AccessLogFormat.custom(json.dumps(ACCESS_LOG_FORMAT))


def _placeholder_secret(
    scope: Construct, cid: str, name: str, template: dict[str, str], key: str, description: str
) -> secretsmanager.Secret:
    """A secret whose initial value is a generated placeholder: no real value is ever in the template."""
    return secretsmanager.Secret(
        scope,
        cid,
        secret_name=name,
        description=description,
        generate_secret_string=secretsmanager.SecretStringGenerator(
            secret_string_template=json.dumps(template), generate_string_key=key, exclude_punctuation=True
        ),
        removal_policy=RemovalPolicy.RETAIN,
    )


class TokenService(Construct):
    def __init__(self, scope: Construct, cid: str, *, config: BridgeConfig) -> None:
        super().__init__(scope, cid)
        self.token_secrets: dict[str, secretsmanager.ISecret] = {}
        self.credentials_secrets: dict[str, secretsmanager.ISecret] = {}
        self.saml_secrets: dict[str, secretsmanager.ISecret] = {}
        mint_env: list[dict[str, object]] = []  # one entry per OAuth client: each has its own token
        vend_env: list[dict[str, object]] = []  # one per org: callers get the org's first client's token
        for group in config.groups():
            name, org = group.name, group.org
            credentials_name = group.credentials_secret or credentials_secret_name(name.replace(".", "/"))
            self.credentials_secrets[name] = (
                secretsmanager.Secret.from_secret_name_v2(self, f"Credentials-{group.construct_id}", credentials_name)
                if group.credentials_secret
                else _placeholder_secret(
                    self,
                    f"Credentials-{group.construct_id}",
                    credentials_name,
                    {"client_id": CREDENTIALS_PLACEHOLDER},
                    "client_secret",
                    f"Genesys OAuth client credentials ({name}): put the real client_id and client_secret here",
                )
            )
            self.token_secrets[name] = _placeholder_secret(
                self,
                f"Token-{group.construct_id}",
                group.token_secret,
                {"placeholder": "minted on schedule"},
                "nonce",
                f"Current Genesys access token of OAuth client {name}, written by the minter",
            )
            entry: dict[str, object] = {
                "name": name,
                "environment": org.environment,
                "credentials_secret": credentials_name,
                "token_secret": group.token_secret,
            }
            mint_env.append(entry)
            if group.index != 0:
                continue
            vend_entry = dict(entry)
            if org.saml is not None:
                saml_name = org.saml.credentials_secret or saml_client_secret_name(org.name)
                self.saml_secrets[org.name] = (
                    secretsmanager.Secret.from_secret_name_v2(self, f"Saml-{org.name}", saml_name)
                    if org.saml.credentials_secret
                    else _placeholder_secret(
                        self,
                        f"Saml-{org.name}",
                        saml_name,
                        {"client_id": CREDENTIALS_PLACEHOLDER},
                        "client_secret",
                        f"Genesys SAML2BEARER OAuth client of org {org.name}",
                    )
                )
                vend_entry["saml"] = {"credentials_secret": saml_name, "org_name": org.saml.org_name}
            vend_env.append(vend_entry)

        common_env = {
            "POWERTOOLS_METRICS_NAMESPACE": config.metrics_namespace,
            "POWERTOOLS_LOG_LEVEL": "INFO",
        }
        self.minter = bridge_function(
            self,
            "Minter",
            handler="functions.mint_token.handler.handler",
            log_retention_days=config.log_retention_days,
            environment={
                **common_env,
                "ORGS": json.dumps(mint_env),
                "POWERTOOLS_SERVICE_NAME": "token-minter",
                "SCHEDULE_PERIOD_SECONDS": str(config.mint_schedule_minutes * 60),
                "ROTATION_LEAD_SECONDS": f"{config.required_token_life:g}",
            },
            timeout=Duration.seconds(60),
            reserved_concurrency=1,
        )
        for secret in self.credentials_secrets.values():
            secret.grant_read(self.minter)
        for secret in self.token_secrets.values():
            secret.grant_read(self.minter)
            secret.grant_write(self.minter)

        self.dead_letters = sqs.Queue(
            self,
            "MintScheduleDlq",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=Duration.days(14),
        )
        # the scheduler invokes asynchronously: an invocation that fails after Lambda's own retries lands here too
        self.minter.configure_async_invoke(
            on_failure=destinations.SqsDestination(self.dead_letters),
            retry_attempts=1,
            max_event_age=Duration.minutes(max(1, config.mint_schedule_minutes)),
        )
        self.schedule = scheduler.Schedule(
            self,
            "MintSchedule",
            schedule=scheduler.ScheduleExpression.rate(Duration.minutes(config.mint_schedule_minutes)),
            description="Mint Genesys tokens ahead of expiry",
            target=targets.LambdaInvoke(
                self.minter,
                input=scheduler.ScheduleTargetInput.from_object(
                    {"scheduled_time": scheduler.ContextAttribute.scheduled_time}
                ),
                dead_letter_queue=self.dead_letters,
                retry_attempts=2,
                max_event_age=Duration.minutes(max(1, config.mint_schedule_minutes)),
            ),
        )

        self.vendor = bridge_function(
            self,
            "Vendor",
            handler="functions.vend_token.handler.handler",
            log_retention_days=config.log_retention_days,
            environment={
                **common_env,
                "ORGS": json.dumps(vend_env),
                "POWERTOOLS_SERVICE_NAME": "token-vendor",
                "ACCESS_POLICY": json.dumps(config.access_policy),
                "MIN_REMAINING_SECONDS": str(config.vend_min_remaining_seconds),
                "CACHE_MAX_AGE_SECONDS": "300",
            },
            timeout=Duration.seconds(15),
        )
        for secret in [*(self.token_secrets[o.name] for o in config.orgs), *self.saml_secrets.values()]:
            secret.grant_read(self.vendor)

        self.api = apigwv2.HttpApi(
            self,
            "VendApi",
            description="Vends cached Genesys tokens to callers with an IdP JWT",
            create_default_stage=False,
            default_authorizer=authorizers.HttpJwtAuthorizer(
                "IdpJwt", config.idp.issuer, jwt_audience=list(config.idp.audience)
            ),
        )
        self.api_logs = logs.LogGroup(
            self,
            "VendApiAccessLogs",
            retention=retention(config.log_retention_days),
            removal_policy=RemovalPolicy.RETAIN,
        )
        self.stage = self.api.add_stage(
            "DefaultStage",
            stage_name="$default",
            auto_deploy=True,
            throttle=apigwv2.ThrottleSettings(rate_limit=config.vend_rate_limit, burst_limit=config.vend_burst_limit),
            access_log_settings=_AccessLogs(self.api_logs),
        )
        integration = integrations.HttpLambdaIntegration("VendIntegration", self.vendor)
        self.api.add_routes(path="/orgs/{org}/token", methods=[apigwv2.HttpMethod.GET], integration=integration)
        self.api.add_routes(path="/orgs/{org}/saml-token", methods=[apigwv2.HttpMethod.POST], integration=integration)
