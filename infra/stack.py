"""The one stack: event store, token service, stream worker and monitoring, wired with grants."""

from __future__ import annotations

import json
from typing import Any

from aws_cdk import CfnOutput, Stack
from constructs import Construct

from evidence.archive import PUBLIC_KEY_OBJECT
from infra.config import BridgeConfig
from infra.constructs.coverage_auditor import CoverageAuditor
from infra.constructs.event_archive import EventArchive
from infra.constructs.event_storage import EventStorage
from infra.constructs.eventbridge_path import EventBridgePath
from infra.constructs.gap_repair import GapRepair
from infra.constructs.monitoring import Monitoring, Watched
from infra.constructs.token_service import TokenService
from infra.constructs.worker_fleet import WorkerFleet
from infra.nag import acknowledge
from infra.scanners import acknowledge_scanners, encrypt_logs


class GenesysBridgeStack(Stack):
    def __init__(self, scope: Construct, cid: str, *, config: BridgeConfig, **kwargs: Any) -> None:
        super().__init__(scope, cid, **kwargs)
        self.store = EventStorage(
            self, "EventStore", ttl_enabled=config.event_ttl_days is not None, streams=config.archive.enabled
        )
        self.archive = (
            EventArchive(self, "Archive", config=config, store=self.store) if config.archive.enabled else None
        )
        self.tokens = TokenService(self, "TokenService", config=config)
        self.worker = WorkerFleet(
            self, "StreamWorker", config=config, store=self.store, token_secrets=self.tokens.token_secrets
        )
        self.eventbridge = {
            org.name: EventBridgePath(self, f"EventBridge-{org.name}", config=config, org=org, store=self.store)
            for org in config.orgs
            if org.eventbridge is not None
        }
        self.auditor = CoverageAuditor(
            self,
            "CoverageAuditor",
            config=config,
            coverage=self.store.coverage,
            events=self.store.events,
            dead_letters=self.tokens.dead_letters,
        )
        self.repair = GapRepair(
            self,
            "GapRepair",
            config=config,
            store=self.store,
            token_secrets=self.tokens.token_secrets,
            dead_letters=self.tokens.dead_letters,
        )
        self.monitoring = Monitoring(
            self,
            "Monitoring",
            config=config,
            watched=Watched(
                events_table=self.store.events,
                dead_letters=self.tokens.dead_letters,
                minter=self.tokens.minter,
                auditor=self.auditor.function,
                repair=self.repair.function,
                api=self.tokens.api,
                cluster=self.worker.cluster,
                services={name: group.service for name, group in self.worker.groups.items()},
                eventbridge={name: path.dead_letters for name, path in self.eventbridge.items()},
                archiver=self.archive.function if self.archive else None,
                archive_dead_letters=self.archive.dead_letters if self.archive else None,
            ),
        )
        # every name the Deploy steps use, so nobody has to look one up in the console
        outputs = {
            "VendApiUrl": self.tokens.stage.url,
            "EventsTable": self.store.events.table_name,
            "CoverageTable": self.store.coverage.table_name,
            "PayloadBucket": self.store.payloads.bucket_name,
            "MinterFunction": self.tokens.minter.function_name,
            "AlarmTopic": self.monitoring.topic.topic_arn,
            "Cluster": self.worker.cluster.cluster_name,
            "AuditorFunction": self.auditor.function.function_name,
            "RepairFunction": self.repair.function.function_name,
        }
        for name, group in self.worker.groups.items():
            outputs[f"WorkerService{_camel(name)}"] = group.service.service_name
        if self.archive is not None:
            # what verify-archive reads; the public key itself is written beside the archive (public-key.pem) and
            # is `aws kms get-public-key --key-id <ArchiveSigningKey>`
            outputs["ArchiveBucket"] = self.archive.bucket.bucket_name
            outputs["ArchiveSigningKey"] = self.archive.signing_key.key_arn
            outputs["ArchivePublicKey"] = f"s3://{self.archive.bucket.bucket_name}/{PUBLIC_KEY_OBJECT}"
        # what genesys-bridge shards and coverage read: every shard with its org, group and topic count
        outputs["Shards"] = json.dumps(
            {
                shard.id: {"org": group.org.name, "group": group.name, "topics": len(shard.topics)}
                for group in config.groups()
                for shard in group.shards
            },
            separators=(",", ":"),
        )
        for kind, secrets in (
            ("CredentialsSecret", self.tokens.credentials_secrets),
            ("TokenSecret", self.tokens.token_secrets),
            ("SamlSecret", self.tokens.saml_secrets),
        ):
            for org, secret in secrets.items():
                outputs[f"{kind}{_camel(org)}"] = secret.secret_name
        for name, value in outputs.items():
            CfnOutput(self, name, value=value)
        encrypt_logs(self, self.store.key)
        acknowledge(self)
        acknowledge_scanners(self)


def _camel(name: str) -> str:
    return "".join(part.title() for part in name.replace(".", "-").split("-"))
