#!/usr/bin/env python3
"""CDK entry point: `cdk deploy`. Configuration: the "bridge" object in cdk.json context, or `-c bridge='{...}'`."""

from __future__ import annotations

import sys

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks

from infra.config import ConfigError, load_config
from infra.stack import GenesysBridgeStack


def build(app: cdk.App) -> GenesysBridgeStack:
    allow_example = str(app.node.try_get_context("allow_example")).lower() == "true"
    config = load_config({"bridge": app.node.try_get_context("bridge")}, allow_example=allow_example)
    stack = GenesysBridgeStack(
        app, app.node.try_get_context("stack_name") or "GenesysNotificationBridge", config=config
    )
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return stack


def main() -> int:
    app = cdk.App()
    try:
        build(app)
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    app.synth()
    return 0


if __name__ == "__main__":
    sys.exit(main())
