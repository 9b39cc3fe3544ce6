"""Token vending: warm requests through the handler (cached secret) against reading Secrets Manager per request."""

from __future__ import annotations

import json
import os
import time
from typing import Any, cast

TOPICS = ["v2.users.alice.presence", "v2.routing.queues.support.conversations"]


def vend(requests: int) -> dict[str, Any]:
    import boto3
    from aws_lambda_powertools.utilities.parameters import SecretsProvider

    from functions.orgs import OrgConfig
    from functions.vend_token import handler as vend_handler
    from functions.vend_token.vending import TokenVendor
    from genesys.token_secret import TokenSecret
    from local_stack.aws import local_aws
    from tests.conftest import FakeLambdaContext
    from tests.integration.test_vend_token import http_event

    with local_aws():
        sm = boto3.client("secretsmanager")
        now = time.time()
        sm.create_secret(
            Name="acme/token",
            SecretString=TokenSecret("t", "bearer", now + 3000, now - 600, "acme", "mypurecloud.ie", "c").to_json(),
        )
        org = {"name": "acme", "environment": "mypurecloud.ie", "credentials_secret": "c", "token_secret": "acme/token"}
        os.environ["ORGS"] = json.dumps([org])
        os.environ["ACCESS_POLICY"] = json.dumps({"rules": [{"orgs": ["acme"], "scopes": ["genesys/token"]}]})
        event = http_event("GET", "/orgs/acme/token", {"sub": "svc"}, scopes=["genesys/token"])
        context = FakeLambdaContext()
        assert vend_handler.handler(event, context)["statusCode"] == 200
        calls: list[int] = []
        vend_handler.runtime().secrets_client.meta.events.register(
            "before-call.secrets-manager.GetSecretValue", lambda **_: calls.append(1)
        )
        begin = time.perf_counter()
        for _ in range(requests):
            vend_handler.handler(event, context)
        warm_rate = requests / (time.perf_counter() - begin)
        warm_calls = len(calls) * 1000 / requests

        # baseline: the same vendor logic reading Secrets Manager on every request
        client = boto3.client("secretsmanager")
        uncached_calls: list[int] = []
        client.meta.events.register("before-call.secrets-manager.GetSecretValue", lambda **_: uncached_calls.append(1))
        uncached = TokenVendor(
            {"acme": OrgConfig.model_validate(org)},
            SecretsProvider(boto3_client=client),
            min_remaining=300,
            max_age=0,
            saml_grant=cast(Any, None),  # not used by vend()
        )
        baseline_requests = max(100, requests // 10)
        begin = time.perf_counter()
        for _ in range(baseline_requests):
            uncached.vend("acme")
        baseline_rate = baseline_requests / (time.perf_counter() - begin)
    return {
        "warm_requests_per_s": warm_rate,
        "sm_calls_per_1000_warm": warm_calls,
        "uncached_requests_per_s": baseline_rate,
        "sm_calls_per_1000_uncached": len(uncached_calls) * 1000 / baseline_requests,
        "ratio": warm_rate / baseline_rate,
    }
