"""DynamoDB tables for events and the coverage ledger, and the bucket for oversized envelopes."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from evidence.arrivals import ARRIVAL_UPDATE_ATTRIBUTES
from evidence.schema import COVERAGE, EVENTS, TableLayout

_TYPES = {"S": dynamodb.AttributeType.STRING, "N": dynamodb.AttributeType.NUMBER}


def _table(scope: Construct, cid: str, layout: TableLayout, key: kms.IKey, ttl: bool, stream: bool) -> dynamodb.Table:
    types = layout.attribute_types()
    table = dynamodb.Table(
        scope,
        cid,
        partition_key=dynamodb.Attribute(name=layout.partition_key, type=_TYPES[types[layout.partition_key]]),
        sort_key=dynamodb.Attribute(name=layout.sort_key, type=_TYPES[types[layout.sort_key]])
        if layout.sort_key
        else None,
        billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
        point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
            point_in_time_recovery_enabled=True
        ),
        deletion_protection=True,
        encryption=dynamodb.TableEncryption.CUSTOMER_MANAGED,
        encryption_key=key,
        time_to_live_attribute=layout.ttl_attribute if ttl else None,
        # the archiver reads every change; both images, so an edit or a deletion is archived with what it replaced
        stream=dynamodb.StreamViewType.NEW_AND_OLD_IMAGES if stream else None,
        removal_policy=RemovalPolicy.RETAIN,
    )
    for index in layout.indexes:
        table.add_global_secondary_index(
            index_name=index.name,
            partition_key=dynamodb.Attribute(name=index.partition_key, type=_TYPES[types[index.partition_key]]),
            sort_key=dynamodb.Attribute(name=index.sort_key, type=_TYPES[index.sort_type]),
            projection_type=dynamodb.ProjectionType.INCLUDE,
            non_key_attributes=index.non_key_attributes(layout.keys),
        )
    return table


class EventStorage(Construct):
    """The events and coverage tables, their key, and the payload bucket; ``grant_event_writes`` is the one way a
    writer (a worker task, the EventBridge consumer) is allowed in: conditional puts and payloads, nothing else."""

    def __init__(self, scope: Construct, cid: str, *, ttl_enabled: bool, streams: bool = False) -> None:
        super().__init__(scope, cid)
        self.key = kms.Key(
            self,
            "Key",
            description="Genesys notification bridge: events, coverage ledger and payloads",
            enable_key_rotation=True,
            removal_policy=RemovalPolicy.RETAIN,
        )
        self.events = _table(self, "Events", EVENTS, self.key, ttl_enabled, streams)
        self.coverage = _table(self, "Coverage", COVERAGE, self.key, False, streams)
        self.access_logs = s3.Bucket(
            self,
            "PayloadAccessLogs",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            removal_policy=RemovalPolicy.RETAIN,
            versioned=True,  # a log overwritten or deleted leaves its earlier version for a while
            lifecycle_rules=[
                s3.LifecycleRule(expiration=Duration.days(365), noncurrent_version_expiration=Duration.days(30))
            ],
        )
        self.payloads = s3.Bucket(
            self,
            "Payloads",
            encryption=s3.BucketEncryption.KMS,
            encryption_key=self.key,
            bucket_key_enabled=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            versioned=True,
            # an envelope is written once under its event key; a noncurrent version is only ever a rewrite of the same
            # bytes, so old versions can go, and an interrupted upload never lingers
            lifecycle_rules=[
                s3.LifecycleRule(
                    noncurrent_version_expiration=Duration.days(30),
                    abort_incomplete_multipart_upload_after=Duration.days(7),
                )
            ],
            server_access_logs_bucket=self.access_logs,
            server_access_logs_prefix="payloads/",
            removal_policy=RemovalPolicy.RETAIN,
        )

    def grant_event_writes(self, role: iam.IRole, *, ledger: bool = False) -> None:
        """PutItem on the events table (and the coverage ledger), UpdateItem of an event's arrivals only, PutObject
        under envelopes/, and the key only through DynamoDB and S3 in this region (metrics go out as EMF log lines:
        no cloudwatch:PutMetricData)."""
        tables = [self.events.table_arn, *([self.coverage.table_arn] if ledger else [])]
        role.add_to_principal_policy(iam.PolicyStatement(actions=["dynamodb:PutItem"], resources=tables))
        # the one change a writer makes to a stored event: recording its path's arrival (evidence/arrivals.py).
        # dynamodb:Attributes limits the request to the key and those attributes, so no writer can edit evidence
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["dynamodb:UpdateItem"],
                resources=[self.events.table_arn],
                conditions={"ForAllValues:StringEquals": {"dynamodb:Attributes": list(ARRIVAL_UPDATE_ATTRIBUTES)}},
            )
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(actions=["s3:PutObject"], resources=[self.payloads.arn_for_objects("envelopes/*")])
        )
        self.grant_key(role)

    def grant_key(self, role: iam.IRole) -> None:
        """The project key, only through DynamoDB and S3 in this region: enough to read and write the tables and
        buckets it encrypts, never to decrypt anything handed to KMS directly."""
        region = Stack.of(self).region
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey"],
                resources=[self.key.key_arn],
                conditions={
                    "StringEquals": {
                        "kms:ViaService": [f"dynamodb.{region}.amazonaws.com", f"s3.{region}.amazonaws.com"]
                    }
                },
            )
        )
