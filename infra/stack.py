"""The one stack: event store, token service, stream worker and monitoring, wired with grants."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Stack
from constructs import Construct

from infra.config import BridgeConfig
from infra.constructs.event_storage import EventStorage
from infra.constructs.monitoring import Monitoring, Watched
from infra.constructs.stream_worker_service import StreamWorkerService
from infra.constructs.token_service import TokenService
from infra.nag import acknowledge


class GenesysBridgeStack(Stack):
    def __init__(self, scope: Construct, cid: str, *, config: BridgeConfig, **kwargs: Any) -> None:
        super().__init__(scope, cid, **kwargs)
        self.store = EventStorage(self, "EventStore", ttl_enabled=config.event_ttl_days is not None)
        self.tokens = TokenService(self, "TokenService", config=config)
        self.worker = StreamWorkerService(
            self, "StreamWorker", config=config, store=self.store, token_secrets=self.tokens.token_secrets
        )
        self.monitoring = Monitoring(
            self,
            "Monitoring",
            config=config,
            watched=Watched(
                events_table=self.store.events,
                dead_letters=self.tokens.dead_letters,
                api=self.tokens.api,
                cluster=self.worker.cluster,
                service=self.worker.service,
            ),
        )
        CfnOutput(self, "VendApiUrl", value=self.tokens.stage.url)
        CfnOutput(self, "EventsTable", value=self.store.events.table_name)
        CfnOutput(self, "CoverageTable", value=self.store.coverage.table_name)
        CfnOutput(self, "PayloadBucket", value=self.store.payloads.bucket_name)
        for org, secret in self.tokens.credentials_secrets.items():
            CfnOutput(self, f"CredentialsSecret{org.title().replace('-', '')}", value=secret.secret_name)
        acknowledge(self)
