"""`genesys-bridge` as a user runs it, through its installed entry point: it finds a deployment by its stack, takes
options before or after the command, answers in JSON with numbers as numbers, and fails in one line with the fix."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import boto3
import pytest

from bridge_cli.main import _destination
from evidence.coverage import heartbeat_item, session_sort_key
from evidence.records import Received, event_item
from evidence.schema import COVERAGE, EVENTS, create_table_kwargs

pytestmark = pytest.mark.slow
ENTRY = shutil.which("genesys-bridge") or str(Path(sys.executable).parent / "genesys-bridge")
SHARDS = {
    "acme:0": {"org": "acme", "group": "acme", "topics": 1000},
    "acme:1": {"org": "acme", "group": "acme", "topics": 12},
}


def deployed_stack(name: str) -> None:
    """A stack with the outputs the CDK app writes (moto keeps the outputs of any template)."""
    template = {
        "Resources": {"Handle": {"Type": "AWS::CloudFormation::WaitConditionHandle"}},
        "Outputs": {
            "EventsTable": {"Value": "deployed-events"},
            "CoverageTable": {"Value": "deployed-coverage"},
            "Shards": {"Value": json.dumps(SHARDS)},
        },
    }
    boto3.client("cloudformation").create_stack(StackName=name, TemplateBody=json.dumps(template))
    dynamodb = boto3.client("dynamodb")
    dynamodb.create_table(**create_table_kwargs("deployed-events", EVENTS))  # type: ignore[arg-type]
    dynamodb.create_table(**create_table_kwargs("deployed-coverage", COVERAGE))  # type: ignore[arg-type]


def session(shard: str, worker: str, start: float, end: float) -> dict:
    return {
        "shard": {"S": shard},
        "session": {"S": session_sort_key(start, f"ch-{worker}")},
        "start_ms": {"N": str(int(start * 1000))},
        "end_ms": {"N": str(int(end * 1000))},
        "worker": {"S": worker},
        "open": {"BOOL": False},
    }


def run(*argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([ENTRY, *argv], capture_output=True, text=True, timeout=60, env=env or dict(os.environ))


def test_coverage_of_every_shard_from_the_stack_with_options_after_the_command(aws):
    """Given a deployed stack with two shards, one with a 30 s gap in which EventBridge stored an event,
    ``coverage --stack S -o json`` (options after the command) reports both shards, the gap with numbers as numbers
    and its classification, and exits 3."""
    deployed_stack("bridge-prod")
    now = 1_800_000_000.0
    for item in (
        session("acme:0", "a", now - 3600, now),
        session("acme:1", "a", now - 3600, now - 630),
        session("acme:1", "b", now - 600, now),
    ):
        boto3.client("dynamodb").put_item(TableName="deployed-coverage", Item=item)
    delivered = Received.of(
        "{}",
        {"topicName": "v2.users.u1.presence", "eventBody": {"id": "u1"}},
        "eventbridge:1",
        "eventbridge",
        "acme",
        now - 615,
        "eventbridge",
    )
    boto3.client("dynamodb").put_item(TableName="deployed-events", Item=event_item(delivered)[0])
    since, until = str(now - 1800), str(now - 60)
    done = run(
        "coverage",
        "--stack",
        "bridge-prod",
        "--region",
        "us-east-1",
        "--endpoint-url",
        aws,
        "-o",
        "json",
        "--since",
        since,
        "--until",
        until,
    )
    assert done.returncode == 3, done.stderr
    report = json.loads(done.stdout)
    by_shard = {r["shard"]: r for r in report["shards"]}
    assert set(by_shard) == set(SHARDS)
    assert by_shard["acme:0"]["gaps"] == []
    (gap,) = by_shard["acme:1"]["gaps"]
    assert gap["seconds"] == 30.0 and isinstance(gap["seconds"], float)
    assert gap["classification"] == "covered by EventBridge"  # acme's EventBridge item in the gap
    assert report["gaps_found"] is True


def test_shards_lists_org_group_topics_and_ledger_times(aws):
    """Given the stack's shards and a ledger for one, ``shards`` lists both, with what it knows of each."""
    deployed_stack("bridge-prod")
    boto3.client("dynamodb").put_item(
        TableName="deployed-coverage", Item=session("acme:0", "a", 1_800_000_000, 1_800_000_600)
    )
    boto3.client("dynamodb").put_item(TableName="deployed-coverage", Item=heartbeat_item("a", 1_800_000_600))
    done = run("--stack", "bridge-prod", "shards", "-o", "jsonl")
    assert done.returncode == 0, done.stderr
    rows = {r["shard"]: r for r in map(json.loads, done.stdout.splitlines())}
    assert rows["acme:0"]["topics"] == 1000 and rows["acme:0"]["group"] == "acme"
    assert rows["acme:0"]["first_ledger"].startswith("2027-01-15T08:00:00")
    assert rows["acme:1"]["first_ledger"] == ""


def test_without_a_region_the_answer_is_one_line_naming_the_fix(aws):
    """Given no region anywhere, the CLI exits 1 with one line that says to pass --region, never a traceback."""
    env = {k: v for k, v in os.environ.items() if k not in ("AWS_REGION", "AWS_DEFAULT_REGION")}
    env["AWS_CONFIG_FILE"] = os.devnull
    done = run("--events-table", "t", "events", env=env)
    assert done.returncode == 1
    assert done.stderr.strip().count("\n") == 0
    assert "--region" in done.stderr and "Traceback" not in done.stderr


def test_without_tables_or_a_stack_the_usage_error_names_both_ways(aws):
    env = {k: v for k, v in os.environ.items() if k not in ("EVENTS_TABLE", "COVERAGE_TABLE")}
    done = run("events", env=env)
    assert done.returncode == 2
    assert "--stack" in done.stderr and "--events-table" in done.stderr


def test_a_missing_stack_is_one_line(aws):
    done = run("--stack", "nope", "shards")
    assert done.returncode == 1
    assert "nope" in done.stderr and "--stack" in done.stderr and "Traceback" not in done.stderr


def test_help_names_the_exit_codes():
    done = run("coverage", "--help")
    assert done.returncode == 0
    assert "3  coverage, report: gaps found" in done.stdout and "2  usage" in done.stdout


def test_an_interrupted_export_leaves_nothing_half_written(tmp_path):
    """Given an export interrupted midway (Ctrl-C), the target file does not exist and no partial file is left;
    a complete one appears whole."""
    target = tmp_path / "export.jsonl"

    def interrupted_export() -> None:
        with _destination(target, sys.stdout) as out:
            out.write('{"n": 1}\n')
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        interrupted_export()
    assert list(tmp_path.iterdir()) == []
    with _destination(target, sys.stdout) as out:
        out.write('{"n": 1}\n')
    assert target.read_text() == '{"n": 1}\n'
    assert list(tmp_path.iterdir()) == [target]
