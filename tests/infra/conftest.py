"""The CDK app synthesized once per session, without AWS or Docker (bundling skipped), for the infra tests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Template

from app import build

ROOT = Path(__file__).resolve().parents[2]
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "1")
os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")
CONTEXT: dict[str, Any] = json.loads((ROOT / "cdk.json").read_text())["context"]
BRIDGE: dict[str, Any] = {
    **CONTEXT["bridge"],
    "orgs": [
        {
            "name": "acme",
            "region": "mypurecloud.ie",
            "templates": [{"template": "v2.users.{id}.presence", "ids": [f"u{i}" for i in range(1500)]}],
            "saml": {"org_name": "acme-org"},
        },
        {
            "name": "beta",
            "region": "usw2.pure.cloud",
            "topics": ["v2.routing.queues.q1.conversations"],
            "credentials_secret_name": "existing/beta",
        },
    ],
    "worker_replicas": 2,
    "alarm_email": "oncall@example.com",
}


def synth(bridge: dict[str, Any], tmp_path: Path) -> tuple[cdk.Stack, Template, Path]:
    context = {**CONTEXT, "bridge": bridge, "allow_example": "true", "aws:cdk:bundling-stacks": []}
    app = cdk.App(context=context, outdir=str(tmp_path))
    stack = build(app)
    app.synth()  # runs the cdk-nag validation plugin: any unacknowledged finding fails here
    return stack, Template.from_stack(stack), tmp_path / f"{stack.stack_name}.template.json"


@pytest.fixture(scope="session")
def synthesized(tmp_path_factory):
    return synth(BRIDGE, tmp_path_factory.mktemp("cdk"))


@pytest.fixture(scope="session")
def template(synthesized) -> Template:
    return synthesized[1]


def cfn_lint(template_path: Path) -> None:
    """cfn-lint passes, apart from W3005: CDK adds an explicit DependsOn next to a GetAtt for roles (harmless, and
    not ours to change)."""
    result = subprocess.run(
        [str(Path(sys.executable).parent / "cfn-lint"), "--ignore-checks", "W3005", "--", str(template_path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
