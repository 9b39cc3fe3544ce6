"""The coverage auditor and the gap repair on the local stack, as their schedules would run them after a demo:
every settled minute of the run judged (gaps recorded), then every uncovered gap repaired from the emulator's REST."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass

import boto3
import httpx

from emulator.config import DEFAULT_CLIENT
from evidence.gap_table import GapTable
from evidence.gaps import NOT_NEEDED, GapRecord
from evidence.repair import ReconstructionStore, run_repairs
from evidence.store import EventStore
from genesys.analytics import RepairApi
from genesys.timefmt import iso_ms
from local_stack.eventbridge import LocalContext
from local_stack.resources import StackNames
from local_stack.waiting import eventually_sync

WINDOW = 60.0


@dataclass(frozen=True)
class RepairSummary:
    gaps: list[GapRecord]  # every gap record of the run, after the repairs
    reconstructions: int  # stored for the uncovered ones

    @property
    def uncovered(self) -> list[GapRecord]:
        return [g for g in self.gaps if g.status != NOT_NEEDED]


def _token(http: httpx.Client, base_url: str) -> str:
    response = http.post(f"{base_url}/oauth/token", data={"grant_type": "client_credentials"}, auth=DEFAULT_CLIENT)
    response.raise_for_status()
    token: str = response.json()["access_token"]
    return token


def _renewing(http: httpx.Client, base_url: str) -> Callable[[], str]:
    held: dict[str, tuple[str, float]] = {}

    def current() -> str:
        token, at = held.get("token", ("", 0.0))
        if time.monotonic() - at > 20:
            token, at = _token(http, base_url), time.monotonic()
            held["token"] = (token, at)
        return token

    return current


def judge_and_repair(
    names: StackNames, shards: list[str], start: float, end: float, emulator_url: str
) -> RepairSummary:
    """Judge the whole minutes of [start, end] (the auditor's handler, its environment as the stack sets it), then
    repair each uncovered gap now, as ``genesys-bridge repair --gap`` does."""
    first = (start // WINDOW) * WINDOW  # the minute the run began in: its first seconds are judged too
    scheduled = (end // WINDOW) * WINDOW
    if scheduled - first >= WINDOW:
        os.environ.update(
            {
                "COVERAGE_TABLE": names.coverage_table,
                "EVENTS_TABLE": names.events_table,
                "SHARDS": json.dumps(shards),
                "WINDOW_SECONDS": str(WINDOW),
                "LOOKBACK_SECONDS": str(scheduled - first),
                # the demo's tasks write their ledger every 2 s and have all stopped: 5 s of silence is death
                "TASK_SILENCE_SECONDS": "5",
                "POWERTOOLS_METRICS_DISABLED": "true",
                "POWERTOOLS_LOG_LEVEL": "CRITICAL",  # its gap lines would repeat what the summary says
            }
        )
        from functions.audit_coverage.handler import handler  # after its environment, as Lambda
        from functions.coverage_store import CoverageReader

        reader = CoverageReader(names.coverage_table)
        windows = {first + k * WINDOW for k in range(int((scheduled - first) // WINDOW))}

        def all_judged() -> bool:
            """The auditor leaves a window until every live task's ledger has passed its end: run it again, as
            its every-minute schedule would, until each window of the run has its verdict."""
            handler({"scheduled_time": iso_ms(scheduled)}, LocalContext("coverage-auditor"))
            return all(windows <= reader.judged(shard, first) for shard in shards)

        eventually_sync(all_judged, 60, "every minute of the run judged", interval=1.0)
    dynamodb = boto3.client("dynamodb")
    table = GapTable(dynamodb, names.coverage_table)
    store = ReconstructionStore(EventStore.connect(names.events_table, names.payload_bucket))
    rebuilt = 0
    with httpx.Client(timeout=30) as http:
        for gap in table.gaps(start, end):
            if gap.status == NOT_NEEDED:
                continue
            # tokens of its own from the emulator, renewed every 20 s: the demo's live a minute, and a loaded
            # machine can stretch a repair past that
            api = RepairApi(emulator_url, _renewing(http, emulator_url), http)

            def api_for(org: str, api: RepairApi = api) -> RepairApi:
                return api

            saved = run_repairs(table, api_for, store, lambda: end, gap_id=gap.id)
            rebuilt += sum(sum((g.rebuilt or {}).values()) for g in saved)
    return RepairSummary(table.gaps(start, end), rebuilt)
