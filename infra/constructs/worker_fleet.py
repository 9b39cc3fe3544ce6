"""The stream worker fleet on ECS Fargate: one cluster, one service per worker group (an OAuth client and its
shards), active-active tasks spread over two AZs, arm64, egress only, health-checked."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_logs as logs
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from infra.bundling import PYTHON_VERSION, ROOT
from infra.config import BridgeConfig, WorkerGroup
from infra.constructs.event_storage import EventStorage
from infra.retention import retention
from stream_worker.settings import worker_environment

HEALTH_INTERVAL, HEALTH_RETRIES = 15, 3  # a stuck loop is replaced after about 45 s


class WorkerFleet(Construct):
    """The network and the cluster, and one WorkerGroupService per group."""

    def __init__(
        self,
        scope: Construct,
        cid: str,
        *,
        config: BridgeConfig,
        store: EventStorage,
        token_secrets: dict[str, secretsmanager.ISecret],
    ) -> None:
        super().__init__(scope, cid)
        flow_logs = logs.LogGroup(
            self, "FlowLogs", retention=retention(config.log_retention_days), removal_policy=RemovalPolicy.RETAIN
        )
        # public subnets without NAT: the task reaches Genesys and AWS directly; its security group admits nothing
        self.vpc = ec2.Vpc(
            self,
            "Vpc",
            max_azs=2,
            nat_gateways=0,
            subnet_configuration=[
                ec2.SubnetConfiguration(name="public", subnet_type=ec2.SubnetType.PUBLIC, cidr_mask=24)
            ],
            flow_logs={"all": ec2.FlowLogOptions(destination=ec2.FlowLogDestination.to_cloud_watch_logs(flow_logs))},
        )
        self.security_group = ec2.SecurityGroup(
            self,
            "EgressOnly",
            vpc=self.vpc,
            allow_all_outbound=True,
            description="Stream worker: egress only, no inbound rules",
        )
        self.cluster = ecs.Cluster(self, "Cluster", vpc=self.vpc, container_insights_v2=ecs.ContainerInsights.ENABLED)
        self.image = ecs.ContainerImage.from_asset(
            str(ROOT),
            file="stream_worker/Dockerfile",
            platform=ecr_assets.Platform.LINUX_ARM64,
            build_args={"PYTHON_VERSION": PYTHON_VERSION},
            exclude=[".venv", "cdk.out", "node_modules", ".git", ".demo", ".bench", "**/__pycache__"],
        )
        self.groups = {
            group.name: WorkerGroupService(
                self,
                f"Group-{group.construct_id}",
                config=config,
                group=group,
                fleet=self,
                store=store,
                token_secret=token_secrets[group.name],
            )
            for group in config.groups()
        }


class WorkerGroupService(Construct):
    """One group's service: every task runs all of the group's shards; the conditional put makes them one."""

    def __init__(
        self,
        scope: Construct,
        cid: str,
        *,
        config: BridgeConfig,
        group: WorkerGroup,
        fleet: WorkerFleet,
        store: EventStorage,
        token_secret: secretsmanager.ISecret,
    ) -> None:
        super().__init__(scope, cid)
        self.group = group
        self.task = ecs.FargateTaskDefinition(
            self,
            "Task",
            cpu=config.worker_task_size[0],
            memory_limit_mib=config.worker_task_size[1],
            runtime_platform=ecs.RuntimePlatform(
                cpu_architecture=ecs.CpuArchitecture.ARM64, operating_system_family=ecs.OperatingSystemFamily.LINUX
            ),
        )
        self.log_group = logs.LogGroup(
            self, "Logs", retention=retention(config.log_retention_days), removal_policy=RemovalPolicy.RETAIN
        )
        self.container = self.task.add_container(
            "worker",
            image=fleet.image,
            logging=ecs.LogDrivers.aws_logs(stream_prefix="worker", log_group=self.log_group),
            environment={
                **worker_environment(
                    **config.group_values(group),
                    events_table=store.events.table_name,
                    coverage_table=store.coverage.table_name,
                    payload_bucket=store.payloads.bucket_name,
                ),
                "POWERTOOLS_METRICS_NAMESPACE": config.metrics_namespace,
                "POWERTOOLS_SERVICE_NAME": "stream-worker",
            },
            # healthy = the process and its event loop are alive; Genesys and DynamoDB trouble has its own alarms,
            # because a restart fixes neither and would drop the events the task holds in memory
            health_check=ecs.HealthCheck(
                command=["CMD", "python", "-m", "stream_worker.health"],
                interval=Duration.seconds(HEALTH_INTERVAL),
                timeout=Duration.seconds(5),
                retries=HEALTH_RETRIES,
                start_period=Duration.seconds(60),
            ),
            stop_timeout=Duration.seconds(120),
        )
        self.service = ecs.FargateService(
            self,
            "Service",
            cluster=fleet.cluster,
            task_definition=self.task,
            desired_count=config.worker_replicas,
            # coverage never drops to zero and the channel budget holds: see BridgeConfig.deployment
            min_healthy_percent=config.deployment.min_healthy_percent,
            max_healthy_percent=config.deployment.max_healthy_percent,
            circuit_breaker=ecs.DeploymentCircuitBreaker(enable=True, rollback=True),
            assign_public_ip=True,
            security_groups=[fleet.security_group],
            vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PUBLIC),
        )
        # least privilege, no wildcards: the worker only writes; reads are the query tools' business
        role = self.task.task_role
        token_secret.grant_read(role)
        store.grant_event_writes(role, ledger=True)
