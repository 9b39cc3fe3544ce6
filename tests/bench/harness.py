"""What every bench shares: child processes (so CPU and memory belong to one variant), the emulator in its own
process, a worker wired to a given store, and CPU and memory readings."""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from genesys.token_secret import TokenSecret

BENCH_TOKEN_SECRET = "bench/token"
CLIENT = ("emulator-client", "emulator-secret")


def quiet() -> None:
    """No EMF, no traces, no log lines: the bench prints only its table."""
    os.environ["POWERTOOLS_METRICS_DISABLED"] = "true"
    os.environ["POWERTOOLS_TRACE_DISABLED"] = "true"
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    logging.basicConfig(level=logging.CRITICAL, force=True)
    logging.getLogger().handlers = [logging.NullHandler()]


def cpu_seconds() -> float:
    """User + system CPU of this process, all its threads."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def process_cpu_seconds(pid: int) -> float:
    """CPU of a live process (utime + stime from /proc), for writer processes still running."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int | None = None) -> float:
    with open(f"/proc/{pid or 'self'}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def run_child(name: str, *, timeout: float = 1800, show_progress: bool = False, **params: Any) -> dict[str, Any]:
    """``python -m tests.bench --child NAME --params JSON`` in a fresh interpreter; its last line is the result.
    ``show_progress``: the child's stderr goes to this terminal as it comes (a long run's lines), not captured."""
    out = subprocess.run(
        [sys.executable, "-m", "tests.bench", "--child", name, "--params", json.dumps(params)],
        stdout=subprocess.PIPE,
        stderr=None if show_progress else subprocess.PIPE,
        text=True,
        timeout=timeout,
    )
    if out.returncode != 0:
        raise RuntimeError(f"bench child {name} failed:\n{(out.stderr or '')[-3000:]}")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def _die_with_parent() -> None:
    """The emulator ends with the bench child that started it, even when that child is killed (a timeout): an
    orphaned emulator publishing 500 events/s once ran on for an hour under the next benchmarks."""
    import ctypes
    import signal

    ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG (Linux)


@contextmanager
def emulator_process(*extra: str) -> Iterator[str]:
    """The Genesys emulator in its own process (its CPU is not the client's); yields its base URL."""
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "emulator",
            "--port",
            "0",
            "--heartbeat-interval",
            "5",
            "--rate-limit",
            "100000",
            "--token-lifetime",
            "86400",
            *extra,
        ],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        preexec_fn=_die_with_parent,
    )
    assert process.stderr is not None
    _emulator_http()  # built before anything is measured
    try:
        yield process.stderr.readline().rsplit(" ", 1)[-1].strip()
    finally:
        process.terminate()
        process.wait(10)


@functools.cache
def _emulator_http() -> httpx.Client:
    """One client for the emulator's fault API, kept: a new one builds an SSL context, about 20 ms of CPU, which a
    slice of a few hundred events would count as tens of µs per event."""
    return httpx.Client(timeout=60)


def fault(base: str, kind: str, **params: Any) -> dict[str, Any]:
    answer: dict[str, Any] = _emulator_http().post(f"{base}/_emulator/faults", json={"type": kind, **params}).json()
    return answer


def mint(base: str) -> TokenSecret:
    answer = httpx.post(f"{base}/oauth/token", data={"grant_type": "client_credentials"}, auth=CLIENT).json()
    now = time.time()
    return TokenSecret(answer["access_token"], "bearer", now + answer["expires_in"], now, "bench", base, CLIENT[0])


class StaticSecrets:
    """The token secret, always the same value: no Secrets Manager (nor its CPU) in the measured process."""

    def __init__(self, token: TokenSecret) -> None:
        self._value = token.to_json()

    def get(
        self, name: str, max_age: int | None = None, transform: Any = None, force_fetch: bool = False, **_: Any
    ) -> Any:
        return self._value


class InstantDynamoDB:
    """A store that answers at once, in process: every put is new. For the pipeline's cost without a store."""

    def put_item(self, **_: Any) -> dict[str, Any]:
        return {}


def bench_worker(base: str, topics: list[str], dynamodb: Any, **settings: Any) -> Any:
    """A stream worker for ``topics`` on the emulator at ``base``, storing through ``dynamodb``."""
    from genesys.http import new_http_client
    from stream_worker.settings import load_settings, worker_environment
    from stream_worker.worker import Worker

    org = {"name": "bench", "environment": base, "token_secret": BENCH_TOKEN_SECRET, "topics": topics}
    env = worker_environment(
        orgs=[org],
        events_table="events",
        coverage_table="coverage",
        payload_bucket="payloads",
        health_file=os.path.join(tempfile.mkdtemp(), "health.json"),
        token_rotation_lead=60,
        min_token_life=120,
        **settings,
    )
    return Worker(
        load_settings(env), secrets=StaticSecrets(mint(base)), dynamodb=dynamodb, s3=None, http=new_http_client()
    )


def stored(metrics: Any, at_least: int, counter: str = "EventsStored") -> Callable[[], bool]:
    """A predicate for ``until``: at least ``at_least`` events stored (or ``counter``), by the worker's own count."""
    return lambda: bool(metrics.totals[counter] >= at_least)


async def until(predicate: Callable[[], bool], within: float, what: str, interval: float = 0.005) -> None:
    deadline = time.monotonic() + within
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"bench: {what} not within {within} s")
        await asyncio.sleep(interval)


async def started(worker: Any, sockets: int) -> Callable[[], Awaitable[int]]:
    """Start the worker until ``sockets`` sockets are confirmed; returns its stop()."""
    task = asyncio.create_task(worker.run())
    await until(
        lambda: sum(1 for sup in worker.supervisors for s in sup.sessions if s.live) >= sockets, 60, "sockets up"
    )

    async def stop() -> int:
        worker.request_stop()
        code: int = await task
        return code

    return stop
