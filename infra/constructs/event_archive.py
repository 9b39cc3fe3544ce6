"""The write-once archive: an S3 Object Lock bucket, the asymmetric key that signs its manifests, and the archiver
function reading both tables' streams (functions/archive_events)."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from evidence.coverage import JUDGED_PREFIX
from functions.archive_events.aws import CHAIN_PARTITION
from infra.bundling import bridge_function
from infra.config import BridgeConfig
from infra.constructs.event_storage import EventStorage

STREAM_BATCH = 1000  # records per invocation: about one segment per org and minute at a busy table
STREAM_WINDOW = Duration.seconds(60)  # wait up to this long to fill a batch: fewer, larger segments
STREAM_RETRIES = 10  # then the batch's shard and sequence range go to the dead-letter queue


class EventArchive(Construct):
    def __init__(self, scope: Construct, cid: str, *, config: BridgeConfig, store: EventStorage) -> None:
        super().__init__(scope, cid)
        archive = config.archive
        lock = (
            s3.ObjectLockRetention.compliance(Duration.days(archive.retention_days))
            if archive.mode == "compliance"
            else s3.ObjectLockRetention.governance(Duration.days(archive.retention_days))
        )
        self.bucket = s3.Bucket(
            self,
            "Bucket",
            # Object Lock needs versioning; the default retention locks every version as it is written
            # (S3 User Guide, "Locking objects with Object Lock")
            object_lock_enabled=True,
            object_lock_default_retention=lock,
            versioned=True,
            encryption=s3.BucketEncryption.KMS,
            encryption_key=store.key,
            bucket_key_enabled=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            server_access_logs_bucket=store.access_logs,
            server_access_logs_prefix="archive/",
            removal_policy=RemovalPolicy.RETAIN,
        )
        if archive.mode == "compliance":
            # compliance mode already refuses these to everyone; the explicit deny says so in the bucket's policy
            self.bucket.add_to_resource_policy(
                iam.PolicyStatement(
                    sid="DenyDeletingArchivedVersions",
                    effect=iam.Effect.DENY,
                    principals=[iam.AnyPrincipal()],
                    actions=[
                        "s3:DeleteObjectVersion",
                        "s3:BypassGovernanceRetention",
                        "s3:PutBucketObjectLockConfiguration",
                    ],
                    resources=[self.bucket.bucket_arn, self.bucket.arn_for_objects("*")],
                )
            )
        self.signing_key = kms.Key(
            self,
            "SigningKey",
            description="Genesys notification bridge: signs the archive's manifests (ECDSA P-256)",
            key_spec=kms.KeySpec.ECC_NIST_P256,
            key_usage=kms.KeyUsage.SIGN_VERIFY,
            removal_policy=RemovalPolicy.RETAIN,  # its public key verifies every manifest ever signed
        )
        self.dead_letters = sqs.Queue(
            self,
            "DeadLetters",
            # SQS-managed: its messages are shard ids and sequence numbers, not events, and a KMS key here would
            # give the archiver kms:ReEncrypt*/GenerateDataKey* on the project key through the DLQ grant
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=Duration.days(14),
        )
        self.function = bridge_function(
            self,
            "Archiver",
            handler="functions.archive_events.handler.handler",
            log_retention_days=config.log_retention_days,
            environment={
                "EVENTS_TABLE": store.events.table_name,
                "COVERAGE_TABLE": store.coverage.table_name,
                "PAYLOAD_BUCKET": store.payloads.bucket_name,
                "ARCHIVE_BUCKET": self.bucket.bucket_name,
                "SIGNING_KEY_ID": self.signing_key.key_arn,
                "POWERTOOLS_METRICS_NAMESPACE": config.metrics_namespace,
                "POWERTOOLS_SERVICE_NAME": "archiver",
            },
            timeout=Duration.minutes(5),
            # one invocation per stream shard at a time (Lambda's own rule for streams); the chain's transaction
            # orders concurrent appends, this only bounds them
            reserved_concurrency=5,
        )
        self._grant(store)
        self.function.add_event_source(
            sources.DynamoEventSource(
                store.events,
                starting_position=lambda_.StartingPosition.TRIM_HORIZON,
                batch_size=STREAM_BATCH,
                max_batching_window=STREAM_WINDOW,
                retry_attempts=STREAM_RETRIES,
                # a resend starts at the record the response names; bisecting would split a batch into new
                # segment names and archive its first half twice (functions/archive_events/archiver.py)
                bisect_batch_on_error=False,
                report_batch_item_failures=True,
                parallelization_factor=1,
                on_failure=sources.SqsDlq(self.dead_letters),
            )
        )
        self.function.add_event_source(
            sources.DynamoEventSource(
                store.coverage,
                starting_position=lambda_.StartingPosition.TRIM_HORIZON,
                batch_size=100,
                retry_attempts=STREAM_RETRIES,
                bisect_batch_on_error=False,
                report_batch_item_failures=True,
                on_failure=sources.SqsDlq(self.dead_letters),
                # only the coverage auditor's verdicts: sessions and heartbeats are written every few seconds
                # (Lambda Developer Guide, "Filtering events from DynamoDB event sources")
                filters=[
                    lambda_.FilterCriteria.filter(
                        {
                            "eventName": lambda_.FilterRule.is_equal("INSERT"),
                            "dynamodb": {"Keys": {"shard": {"S": lambda_.FilterRule.begins_with(JUDGED_PREFIX)}}},
                        }
                    )
                ],
            )
        )

    def _grant(self, store: EventStorage) -> None:
        role = self.function.role
        assert role is not None
        # reads the events (the stream's own grant comes with the event source) and the ledger
        store.events.grant_read_data(role)
        store.coverage.grant_read_data(role)
        # writes only its chain's items in the coverage table (head and markers), never a session or a verdict
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["dynamodb:PutItem"],
                resources=[store.coverage.table_arn],
                conditions={"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": [CHAIN_PARTITION]}},
            )
        )
        role.add_to_principal_policy(  # oversized envelopes, fetched to archive them whole
            iam.PolicyStatement(actions=["s3:GetObject"], resources=[store.payloads.arn_for_objects("envelopes/*")])
        )
        # new versions only: no delete, no retention change (HeadObject is s3:GetObject)
        role.add_to_principal_policy(
            iam.PolicyStatement(actions=["s3:PutObject", "s3:GetObject"], resources=[self.bucket.arn_for_objects("*")])
        )
        store.grant_key(role)
        self.signing_key.grant(role, "kms:Sign", "kms:GetPublicKey")
        # nobody else may sign: a deny in the key policy outranks any identity policy granting kms:Sign
        # (KMS Developer Guide, "Key policies": an explicit deny overrides any allow)
        self.signing_key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="OnlyTheArchiverSigns",
                effect=iam.Effect.DENY,
                principals=[iam.AnyPrincipal()],
                actions=["kms:Sign"],
                resources=["*"],
                conditions={"ArnNotEquals": {"aws:PrincipalArn": role.role_arn}},
            )
        )
        # the account's auditors may read the public key (it is public) to verify without the archive's copy
        self.signing_key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AccountReadsThePublicKey",
                principals=[iam.AccountRootPrincipal()],
                actions=["kms:GetPublicKey", "kms:DescribeKey"],
                resources=["*"],
            )
        )
