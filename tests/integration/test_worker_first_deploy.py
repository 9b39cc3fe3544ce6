"""The first deploy, placeholder first: a worker with no usable token stays healthy, says what to do, and streams
within one token-reader interval of a token appearing."""

from __future__ import annotations

import asyncio
import json
import logging
import time

import boto3
import pytest

from genesys.http import new_http_client
from local_stack.minter_loop import MinterLoop
from local_stack.resources import StackNames, create_resources, org_config, worker_env
from local_stack.waiting import eventually
from stream_worker.aws import dynamodb_client, s3_client, secrets_provider
from stream_worker.health import check
from stream_worker.settings import load_settings
from stream_worker.worker import Worker
from tests.support.bridge import FAST_EMULATOR, MINTER_POLICY, TOPICS, WORKER_DEFAULTS

pytestmark = pytest.mark.slow
PLACEHOLDER = json.dumps({"placeholder": "minted on schedule", "nonce": "Zx81kq"})  # what the CDK app writes


@pytest.mark.parametrize("token_secret", ["placeholder", "no value"])
async def test_a_worker_without_a_token_stays_healthy_and_streams_once_one_is_minted(
    aws, make_emulator, tmp_path, caplog, token_secret
):
    """Given the token secret as the stack leaves it, the worker waits healthy, then streams after the first mint."""
    caplog.set_level(logging.INFO)
    emu = make_emulator(**{**FAST_EMULATOR, "token_lifetime": 60})
    names = StackNames()
    create_resources(names)
    if token_secret == "placeholder":
        boto3.client("secretsmanager").put_secret_value(SecretId=names.token_secret, SecretString=PLACEHOLDER)
    health_file = str(tmp_path / "health.json")
    settings = load_settings(worker_env(names, emu.base_url, TOPICS, **WORKER_DEFAULTS, health_file=health_file))
    worker = Worker(
        settings, secrets=secrets_provider(), dynamodb=dynamodb_client(), s3=s3_client(), http=new_http_client()
    )
    run = asyncio.create_task(worker.run())
    # When several polls pass without a token
    await eventually(lambda: worker.token_waits["local"].waiting, 5, "the worker notices there is no token")
    waited_from = time.monotonic()
    await eventually(lambda: time.monotonic() - waited_from > 4 * settings.token_poll_interval, 5, "four polls")
    # Then the task is healthy, says it waits for a token, and has said so in exactly one ERROR naming the secret
    ok, why = check(health_file)
    assert ok, why
    assert "waiting for a token: local" in why
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1, [r.getMessage() for r in errors]
    assert errors[0].token_secret == names.token_secret
    assert "credentials secret" in errors[0].getMessage()
    assert emu.snapshot()["channels"] == []  # nothing was tried with a token it does not have
    # When the minter writes the first token
    minted = MinterLoop(org_config(names, emu.base_url), MINTER_POLICY, 0.5).start()
    minted_at = time.monotonic()
    try:
        await eventually(lambda: min(worker.live_sockets().values()) == 2, 10, "both sockets live")
        # Then streaming starts within one token-reader interval (plus the time to open and confirm a socket)
        assert time.monotonic() - minted_at < settings.token_poll_interval + 2.0
        assert not worker.token_waits["local"].waiting
    finally:
        worker.request_stop()
        assert await asyncio.wait_for(run, 30) == 0
        minted.stop()
