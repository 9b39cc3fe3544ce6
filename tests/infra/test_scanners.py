"""Two scanners nobody here wrote, on the synthesized template (with and without the EventBridge path): checkov's
CloudFormation checks and cfn-lint with AWS's serverless rules end with nothing unexplained. Every finding is fixed
or acknowledged on its resource with a reason (infra/scanners.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.infra.conftest import ROOT, synth
from tests.infra.test_eventbridge import WITH_EVENTBRIDGE

CHECKOV = ROOT / ".venv-scan" / "bin" / "checkov"  # its own venv (Makefile: SCAN_VENV)


@pytest.fixture(scope="module")
def templates(synthesized, tmp_path_factory) -> list[Path]:
    _, _, with_eventbridge = synth(WITH_EVENTBRIDGE, tmp_path_factory.mktemp("eb"))
    return [synthesized[2], with_eventbridge]


def test_checkov_finds_nothing_unexplained(templates):
    if not CHECKOV.exists():
        pytest.fail(f"{CHECKOV} is missing: `make install` builds the scanner venv")
    for template in templates:
        done = subprocess.run(
            [
                str(CHECKOV),
                "-f",
                str(template),
                "--framework",
                "cloudformation",
                "-o",
                "json",
                "--skip-download",
            ],  # offline: no Prisma Cloud guidelines
            capture_output=True,
            text=True,
            timeout=300,
        )
        report = json.loads(done.stdout)
        failed = [(c["check_id"], c["resource"]) for c in report["results"]["failed_checks"]]
        assert failed == [], failed
        skipped = report["results"]["skipped_checks"]
        assert skipped, "the acknowledgements were not read"
        assert all(len(c["check_result"].get("suppress_comment") or "") > 40 for c in skipped), skipped


def test_cfn_lint_with_the_serverless_rules_finds_nothing(templates):
    """W3005 aside (CDK's explicit DependsOn beside a GetAtt, as in the plain cfn-lint test)."""
    for template in templates:
        done = subprocess.run(
            [
                str(Path(sys.executable).parent / "cfn-lint"),
                "-a",
                "cfn_lint_serverless.rules",
                "--ignore-checks",
                "W3005",
                "--",
                str(template),
            ],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stdout + done.stderr


def test_the_serverless_rules_are_really_loaded(tmp_path):
    """Given a template with a function and no log group, the serverless rules report it: the plugin runs."""
    bare = tmp_path / "bare.json"
    bare.write_text(
        json.dumps(
            {
                "Resources": {
                    "Fn": {
                        "Type": "AWS::Lambda::Function",
                        "Properties": {
                            "Code": {"ZipFile": "x"},
                            "Handler": "a.b",
                            "Runtime": "python3.12",
                            "Role": "arn:aws:iam::123456789012:role/r",
                        },
                    }
                }
            }
        )
    )
    done = subprocess.run(
        [str(Path(sys.executable).parent / "cfn-lint"), "-a", "cfn_lint_serverless.rules", "--", str(bare)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "WS1004" in done.stdout and "WS1000" in done.stdout


def test_every_log_group_is_encrypted_with_the_project_key(synthesized):
    stack, template, _ = synthesized
    key = stack.get_logical_id(stack.store.key.node.default_child)
    groups = template.find_resources("AWS::Logs::LogGroup")
    assert groups
    assert all(g["Properties"]["KmsKeyId"] == {"Fn::GetAtt": [key, "Arn"]} for g in groups.values())
    statements = template.find_resources("AWS::KMS::Key")[key]["Properties"]["KeyPolicy"]["Statement"]
    (logs,) = [s for s in statements if s.get("Sid") == "CloudWatchLogsEncrypts"]
    assert "aws:logs:arn" in json.dumps(logs["Condition"])
