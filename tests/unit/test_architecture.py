"""The layout's rules, read from the imports: runtime never imports infra, the emulator imports nothing of the
product, and only adapters touch boto3, httpx and websockets (ARCHITECTURE.md, "Layout").

``genesys`` is the Genesys Cloud client alone and imports nothing else of the project; ``evidence`` (what the bridge
keeps: frames read into events, keys, items, table layouts, the conditional put, coverage) builds on it. The worker
and the functions build on both, and never on each other."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("genesys", "evidence", "bridge_cli", "emulator", "local_stack", "stream_worker", "functions", "infra")
RUNTIME = ("genesys", "evidence", "functions", "stream_worker", "bridge_cli")
# who may import whom, among the project's own packages
ALLOWED: dict[str, set[str]] = {
    "genesys": {"genesys"},
    "evidence": {"evidence", "genesys"},
    "bridge_cli": {"bridge_cli", "stream_worker", "evidence", "genesys"},
    "emulator": {"emulator", "genesys"},
    "functions": {"functions", "evidence", "genesys"},
    "stream_worker": {"stream_worker", "evidence", "genesys"},
    "infra": {"infra", "evidence", "genesys", "functions", "stream_worker"},
    "local_stack": {"local_stack", "evidence", "genesys", "emulator", "functions", "stream_worker", "bridge_cli"},
}
# the adapters: the only runtime modules that may import these libraries
ADAPTERS: dict[str, set[str]] = {
    "boto3": {
        "stream_worker/aws.py",
        "bridge_cli/aws.py",
        "functions/secrets_store.py",
        "functions/coverage_store.py",
        "functions/archive_events/aws.py",
        "evidence/store.py",
        "evidence/gap_table.py",
    },
    "botocore": {
        "stream_worker/aws.py",
        "bridge_cli/aws.py",
        "functions/secrets_store.py",
        "functions/coverage_store.py",
        "functions/archive_events/aws.py",
        "evidence/store.py",
        "evidence/gap_table.py",
    },
    "httpx": {
        "genesys/http.py",
        "genesys/oauth.py",
        "genesys/notifications.py",
        "genesys/analytics.py",
        "stream_worker/verify.py",
    },
    "websockets": {"stream_worker/connection.py", "stream_worker/session.py"},
}
SERIALIZERS = {"boto3.dynamodb.types"}  # pure value conversion, no client, no network


def imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def modules(*packages: str) -> list[Path]:
    return sorted(p for package in packages for p in (ROOT / package).rglob("*.py"))


def test_every_package_is_checked():
    """Given the rules above, every top-level package of the product has an entry."""
    assert set(ALLOWED) == set(PACKAGES)
    assert all(modules(package) for package in PACKAGES)


@pytest.mark.parametrize("package", PACKAGES)
def test_packages_import_only_what_the_layout_allows(package):
    """Runtime never imports infra or the local stack; the emulator imports only the shared client."""
    wrong = {
        f"{path.relative_to(ROOT)} imports {name}"
        for path in modules(package)
        for name in imports(path)
        if name.split(".")[0] in (*PACKAGES, "tests") and name.split(".")[0] not in ALLOWED[package]
    }
    assert not wrong


def test_only_adapters_touch_boto3_httpx_and_websockets():
    """In runtime code, AWS SDK clients, HTTP and sockets live in named adapter modules only."""
    wrong = set()
    for path in modules(*RUNTIME):
        where = str(path.relative_to(ROOT))
        for name in imports(path):
            library = name.split(".")[0]
            if library in ADAPTERS and where not in ADAPTERS[library] and name not in SERIALIZERS:
                wrong.add(f"{where} imports {name}")
    assert not wrong


def test_the_rule_catches_a_violation(tmp_path):
    """Given a module that imports infra from runtime code, the import reader sees it."""
    bad = tmp_path / "bad.py"
    bad.write_text("import boto3\nfrom infra.config import BridgeConfig\n")
    assert imports(bad) == {"boto3", "infra.config"}
