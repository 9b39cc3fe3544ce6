"""Lambda asset bundling without Docker: pip installs arm64 wheels from the pinned set, then copies the code.

What is deployed is what was tested: the asset's fingerprint covers the code, the pinned versions, the bundled
requirements, the runtime and the platform, so a bump in any of them deploys a new bundle.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import jsii
from aws_cdk import AssetHashType, BundlingOptions, DockerImage, Duration, ILocalBundling, RemovalPolicy
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra.retention import retention

ROOT = Path(__file__).resolve().parent.parent
# the one place the Python version is named: Lambda, the container and the tests all read it
PYTHON_VERSION = (ROOT / ".python-version").read_text().strip()
# boto3 is bundled, not taken from the runtime, so it never skews against the botocore it was tested with
LAMBDA_REQUIREMENTS = ("aws-lambda-powertools", "aws-xray-sdk", "boto3", "botocore", "httpx", "orjson", "pydantic")
LAMBDA_PACKAGES = ("functions", "genesys", "evidence")
PLATFORM = "manylinux2014_aarch64"
_IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc")


def lambda_runtime(version: str = PYTHON_VERSION) -> lambda_.Runtime:
    runtime: lambda_.Runtime = getattr(lambda_.Runtime, f"PYTHON_{version.replace('.', '_')}")
    return runtime


def fingerprint(
    root: Path,
    *,
    requirements: Iterable[str] = LAMBDA_REQUIREMENTS,
    packages: Iterable[str] = LAMBDA_PACKAGES,
    python_version: str = PYTHON_VERSION,
    platform: str = PLATFORM,
) -> str:
    """SHA-256 over everything that decides the bundle's content."""
    digest = hashlib.sha256()
    for part in (f"python={python_version}", f"platform={platform}", *sorted(f"requirement={r}" for r in requirements)):
        digest.update(part.encode() + b"\0")
    digest.update((root / "constraints.txt").read_bytes() + b"\0")
    for package in sorted(packages):
        for path in sorted((root / package).rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


@jsii.implements(ILocalBundling)
class PipArm64Bundling:
    """Runs on the synth machine: manylinux aarch64 wheels only, so nothing is compiled and no Docker is needed."""

    def __init__(self, python_version: str) -> None:
        self._python_version = python_version

    def try_bundle(self, output_dir: str, options: Any) -> bool:  # jsii passes the options struct positionally
        out = Path(output_dir)
        subprocess.run(  # noqa: S603 - fixed arguments, the project's own constraints file
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "--no-compile",  # no .pyc of the synth machine's Python in the bundle
                "--target",
                str(out),
                "--platform",
                PLATFORM,
                "--implementation",
                "cp",
                "--python-version",
                self._python_version,
                "--only-binary=:all:",
                "-c",
                str(ROOT / "constraints.txt"),
                *LAMBDA_REQUIREMENTS,
            ],
            check=True,
        )
        for package in LAMBDA_PACKAGES:
            shutil.copytree(ROOT / package, out / package, ignore=_IGNORED)
        return True


def bridge_function(
    scope: Construct,
    cid: str,
    *,
    handler: str,
    environment: dict[str, str],
    timeout: Duration,
    log_retention_days: int,
    reserved_concurrency: int | None = None,
) -> lambda_.Function:
    """A function of this project: the one runtime, arm64, the shared bundle, traced, with its own retained logs."""
    log_group = logs.LogGroup(
        scope, f"{cid}Logs", retention=retention(log_retention_days), removal_policy=RemovalPolicy.RETAIN
    )
    runtime = lambda_runtime()
    return lambda_.Function(
        scope,
        cid,
        runtime=runtime,
        architecture=lambda_.Architecture.ARM_64,
        handler=handler,
        code=lambda_code(runtime),
        timeout=timeout,
        memory_size=512,
        environment=environment,
        reserved_concurrent_executions=reserved_concurrency,
        tracing=lambda_.Tracing.ACTIVE,
        log_group=log_group,
    )


def lambda_code(runtime: lambda_.Runtime) -> lambda_.Code:
    version = runtime.name.removeprefix("python")
    return lambda_.Code.from_asset(
        str(ROOT),
        exclude=["*", *(f"!{p}/**" for p in LAMBDA_PACKAGES), "**/__pycache__/**"],
        asset_hash_type=AssetHashType.CUSTOM,
        asset_hash=fingerprint(ROOT, python_version=version),
        bundling=BundlingOptions(
            image=DockerImage.from_registry("unused-local-bundling-only"),
            local=PipArm64Bundling(version),  # type: ignore[arg-type]  # jsii calls try_bundle(dir, options)
            command=["false"],  # never reached: local bundling always succeeds or raises
        ),
    )
