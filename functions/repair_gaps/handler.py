"""Lambda entry point of the gap repair, on a schedule: every uncovered gap the coverage auditor recorded is rebuilt
from Genesys REST once settled, and again after Genesys' 48-hour reprocessing (evidence/repair.py). An event
``{"gap_id": "<shard>@<start ms>"}`` repairs that gap now, due or not.

Emits ``GapsRepaired`` per status; a gap whose repair is partial or impossible says why in
its record (``genesys-bridge gaps``), never only in a log line.
"""

from __future__ import annotations

import time
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import Field, Json

from evidence.repair import Api, ReconstructionStore, run_repairs
from evidence.store import EventStore
from functions.common import FunctionEnv, RuntimeCache, observability
from functions.coverage_store import CoverageReader
from functions.secrets_store import SecretsStore
from genesys.analytics import from_token_secret
from genesys.errors import BadCredentialsError
from genesys.http import new_http_client
from genesys.observability import emit_metric
from genesys.org_config import OrgBase

SERVICE = "gap-repair"
obs = observability(SERVICE)
logger, tracer, metrics = obs.logger, obs.tracer, obs.metrics


class RepairEnv(FunctionEnv):
    coverage_table: str = Field(min_length=1)
    events_table: str = Field(min_length=1)
    payload_bucket: str = Field(min_length=1)
    orgs: Json[tuple[OrgBase, ...]] = Field(min_length=1, description="name, environment, token_secret per org")


class Runtime:
    def __init__(self, env: RepairEnv) -> None:
        self.env = env
        self.gaps = CoverageReader(env.coverage_table).gaps
        self.store = ReconstructionStore(EventStore.connect(env.events_table, env.payload_bucket))
        self.secrets = SecretsStore()
        self.http = new_http_client()
        self.token_secrets = {org.name: org.token_secret for org in env.orgs}

    def api_for(self, org: str) -> Api:
        name = self.token_secrets.get(org)
        secret = self.secrets.read(name) if name else None
        if secret is None:
            raise BadCredentialsError(f"no cached token for org {org!r} (is the minter running?)", 401)
        return from_token_secret(secret, self.http)


runtime = RuntimeCache(RepairEnv, Runtime)


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler(capture_response=False)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    rt = runtime()
    gap_id = event.get("gap_id") if isinstance(event, dict) else None
    saved = run_repairs(rt.gaps, rt.api_for, rt.store, time.time, gap_id=str(gap_id) if gap_id else None)
    for gap in saved:
        emit_metric("GapsRepaired", MetricUnit.Count, 1, metrics.namespace, {"service": SERVICE, "status": gap.status})
        logger.info("gap repaired", extra={"gap": gap.as_dict()})
    return {"repaired": [g.as_dict() for g in saved]}
