"""Alarms (to an SNS topic with an email subscription) and a dashboard over the bridge's metrics."""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Duration, Stack
from aws_cdk import aws_apigatewayv2 as apigwv2
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from evidence.gaps import EVENTBRIDGE_SILENCE_S
from infra.config import BridgeConfig

WORKER = {"service": "stream-worker"}
AUDITOR = {"service": "coverage-auditor"}
MINTER = {"service": "token-minter"}
ARCHIVER = {"service": "archiver"}
BREACHING = cw.TreatMissingData.BREACHING
NOT_BREACHING = cw.TreatMissingData.NOT_BREACHING


@dataclass(frozen=True)
class Watched:
    events_table: dynamodb.ITable
    dead_letters: sqs.IQueue
    minter: lambda_.IFunction
    auditor: lambda_.IFunction
    repair: lambda_.IFunction
    api: apigwv2.HttpApi
    cluster: ecs.ICluster
    services: dict[str, ecs.FargateService]  # by worker group
    eventbridge: dict[str, sqs.IQueue]  # the EventBridge path's dead-letter queue, by org
    archiver: lambda_.IFunction | None = None  # with the archive on
    archive_dead_letters: sqs.IQueue | None = None


class Monitoring(Construct):
    def __init__(self, scope: Construct, cid: str, *, config: BridgeConfig, watched: Watched) -> None:
        super().__init__(scope, cid)
        self._config = config
        key = kms.Key(self, "TopicKey", description="Genesys bridge alarm topic", enable_key_rotation=True)
        key.grant(iam.ServicePrincipal("cloudwatch.amazonaws.com"), "kms:Decrypt", "kms:GenerateDataKey*")
        self.topic = sns.Topic(
            self, "Alarms", display_name="Genesys notification bridge alarms", master_key=key, enforce_ssl=True
        )
        # enforce_ssl writes a topic policy, which replaces SNS's default one: without this statement nothing may
        # publish, and no alarm ever reaches a person. Only this account's alarms may publish.
        stack = Stack.of(self)
        self.topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudWatchAlarmsPublish",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["sns:Publish"],
                resources=[self.topic.topic_arn],
                conditions={
                    "StringEquals": {"aws:SourceAccount": stack.account},
                    "ArnLike": {
                        "aws:SourceArn": f"arn:{stack.partition}:cloudwatch:{stack.region}:{stack.account}:alarm:*"
                    },
                },
            )
        )
        self.topic.add_subscription(subscriptions.EmailSubscription(config.alarm_email))
        self.alarms: dict[str, cw.Alarm] = {}
        period = Duration.minutes(config.mint_schedule_minutes)

        for org in config.orgs:
            remaining = self._metric("TokenRemainingSeconds", {**MINTER, "org": org.name}, "Minimum", period)
            self._alarm(
                f"TokenRemaining-{org.name}",
                remaining,
                config.required_token_life,
                cw.ComparisonOperator.LESS_THAN_THRESHOLD,
                BREACHING,
                f"Org {org.name}: the cached token has less life than the worker needs for a new channel",
                evaluation_periods=3,
                datapoints_to_alarm=2,  # one late scheduler run is not a page
            )
            failed = self._metric("TokenMintFailed", {**MINTER, "org": org.name}, "Sum", period)
            self._alarm(
                f"TokenMintFailed-{org.name}",
                failed,
                1,
                cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                BREACHING,
                f"Org {org.name}: minting failed (or the minter did not run)",
                evaluation_periods=2,
            )
        five = Duration.minutes(5)
        # evidence holes: a frame kept in quarantine is not a stored event; a rejected topic is never streamed
        for org in config.orgs:
            by_org = {**WORKER, "org": org.name, "source": "websocket"}
            self._alarm(
                f"Quarantined-{org.name}",
                self._metric("Quarantined", by_org, "Sum", five),
                0,
                cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
                NOT_BREACHING,
                f"Org {org.name}: frames were kept in quarantine instead of stored as events (malformed, refused "
                "by the store, or not valid Unicode): read their reasons (kind = quarantine items)",
            )
            self._alarm(
                f"RejectedTopics-{org.name}",
                self._metric("RejectedTopics", by_org, "Sum", five),
                0,
                cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
                NOT_BREACHING,
                f"Org {org.name}: Genesys refused topics (missing permissions, unknown ids): they are not streamed; "
                "the worker log names each topic and its missing permissions",
            )
        # shard alarms are on the fleet: a gap one task had and another covered pages nobody
        for shard in config.shards():
            dims = {**AUDITOR, "shard": shard.id}
            self._alarm(
                f"FleetUncovered-{shard.id}",
                self._metric("FleetUncoveredSeconds", dims, "Sum", five),
                0,
                cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
                BREACHING,
                f"Shard {shard.id} had seconds no task covered: events in them may be lost (genesys-bridge coverage)",
            )
            self._alarm(
                f"FleetLiveTasks-{shard.id}",
                self._metric("FleetLiveTasks", dims, "Minimum", five),
                config.worker_replicas,
                cw.ComparisonOperator.LESS_THAN_THRESHOLD,
                BREACHING,
                f"Shard {shard.id} is covered by fewer tasks than configured: one more fault would lose events",
                evaluation_periods=3,  # a deploy replaces a task within a period or two
            )
        self._alarm(
            "WriteErrors",
            self._metric("WriteErrors", WORKER, "Sum", five),
            0,
            cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
            NOT_BREACHING,
            "Event writes to DynamoDB are failing (events wait in memory)",
        )
        self._alarm(
            "WriteThrottles",
            watched.events_table.metric("WriteThrottleEvents", statistic="Sum", period=five),
            0,
            cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
            NOT_BREACHING,
            "The events table is throttling writes",
        )
        self._alarm(
            "MintDeadLetters",
            watched.dead_letters.metric_approximate_number_of_messages_visible(period=five),
            0,
            cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
            NOT_BREACHING,
            "The scheduler could not invoke the minter, or an invocation failed after its retries",
        )
        self._alarm(
            "MinterErrors",
            watched.minter.metric_errors(period=period, statistic="Sum"),
            0,
            cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
            NOT_BREACHING,
            "The minter function itself failed (crash, timeout, bad configuration): tokens are not being refreshed",
        )
        self._alarm(
            "AuditorErrors",
            watched.auditor.metric_errors(period=five, statistic="Sum"),
            0,
            cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
            NOT_BREACHING,
            "The coverage auditor failed: fleet coverage is not being computed (its alarms will breach)",
        )
        self._alarm(
            "RepairErrors",
            watched.repair.metric_errors(period=five, statistic="Sum"),
            0,
            cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
            NOT_BREACHING,
            "The gap repair failed: recorded gaps are not being rebuilt from Genesys REST (they stay pending)",
        )
        self._alarm(
            "GapsUnrepairable",
            self._metric("GapsRepaired", {"service": "gap-repair", "status": "unrepairable"}, "Sum", five),
            0,
            cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
            NOT_BREACHING,
            "A gap could not be rebuilt at all (no REST source for its topics, or the OAuth client lacks the "
            "permission): genesys-bridge gaps shows the reason",
        )
        self._alarm(
            "Vend5xx",
            watched.api.metric_server_error(period=five, statistic="Sum"),
            0,
            cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
            NOT_BREACHING,
            "The vend API answered 5xx (503: no token with enough life)",
        )
        for group, service in watched.services.items():
            running = cw.Metric(
                namespace="ECS/ContainerInsights",
                metric_name="RunningTaskCount",
                dimensions_map={"ClusterName": watched.cluster.cluster_name, "ServiceName": service.service_name},
                statistic="Minimum",
                period=Duration.minutes(1),
            )
            self._alarm(
                f"RunningTasks-{group.replace('.', '-')}",
                running,
                config.worker_replicas,
                cw.ComparisonOperator.LESS_THAN_THRESHOLD,
                BREACHING,
                f"Fewer stream worker tasks of group {group} are running than desired",
                evaluation_periods=3,
            )
        for org_name, dead_letters in watched.eventbridge.items():
            self._alarm(
                f"EventBridgeDeadLetters-{org_name}",
                dead_letters.metric_approximate_number_of_messages_visible(period=five),
                0,
                cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
                NOT_BREACHING,
                f"Org {org_name}: partner events EventBridge or the consumer could not take wait in the DLQ: inspect, redrive",
            )
            # a bus still Pending (or deleted) drops Genesys' events silently: EventBridge quiet while sockets are not;
            # the same limit decides whether the path may count as covering a fleet gap (evidence/gaps.py)
            silent_for = Duration.seconds(EVENTBRIDGE_SILENCE_S)
            silence = cw.MathExpression(
                expression="IF(ws > 0 AND FILL(eb, 0) == 0, 1, 0)",
                using_metrics={
                    # both per org: one org's Pending bus must not hide behind another org's traffic
                    "ws": self._metric(
                        "EventsStored", {**WORKER, "org": org_name, "source": "websocket"}, "Sum", silent_for
                    ),
                    "eb": cw.Metric(
                        namespace=config.metrics_namespace,
                        metric_name="EventsReceived",
                        dimensions_map={"service": "eventbridge-consumer", "org": org_name, "source": "eventbridge"},
                        statistic="Sum",
                        period=silent_for,
                    ),
                },
                period=silent_for,
                label="EventBridge silent while websocket events flow",
            )
            self._alarm(
                f"EventBridgeSilent-{org_name}",
                silence,
                1,
                cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                NOT_BREACHING,
                f"Org {org_name}: websocket events flow but none came through EventBridge for "
                f"{EVENTBRIDGE_SILENCE_S // 60} min: is the partner "
                "source associated (not Pending), and the Genesys integration active?",
            )
        if watched.archiver is not None and watched.archive_dead_letters is not None:
            self._archive_alarms(watched.archiver, watched.archive_dead_letters)
        self.dashboard = self._dashboard(watched)

    def _archive_alarms(self, archiver: lambda_.IFunction, dead_letters: sqs.IQueue) -> None:
        five = Duration.minutes(5)
        self._alarm(
            "TableTampered",
            self._metric("TableTampered", ARCHIVER, "Sum", five),
            0,
            cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
            NOT_BREACHING,
            "An event item was changed or deleted outside the bridge (not an arrival, not a TTL expiry): the archive "
            "keeps the old and new images; genesys-bridge verify-archive --day D names each key",
        )
        self._alarm(
            "ArchiveDeadLetters",
            dead_letters.metric_approximate_number_of_messages_visible(period=five),
            0,
            cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
            NOT_BREACHING,
            "A stream batch failed every retry and was not archived: the message names its shard and sequence "
            "range; archive it before the stream's 24 h retention ends",
        )
        self._alarm(
            "ArchiverErrors",
            archiver.metric_errors(period=five, statistic="Sum"),
            0,
            cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
            NOT_BREACHING,
            "The archiver failed (it is retried from the same batch; nothing is skipped until the DLQ alarm)",
        )

    def _metric(self, name: str, dims: dict[str, str], statistic: str, period: Duration) -> cw.Metric:
        return cw.Metric(
            namespace=self._config.metrics_namespace,
            metric_name=name,
            dimensions_map=dims,
            statistic=statistic,
            period=period,
        )

    def _alarm(
        self,
        cid: str,
        metric: cw.IMetric,
        threshold: float,
        comparison: cw.ComparisonOperator,
        missing: cw.TreatMissingData,
        description: str,
        evaluation_periods: int = 1,
        datapoints_to_alarm: int | None = None,
    ) -> None:
        alarm = cw.Alarm(
            self,
            cid,
            alarm_name=f"{Stack.of(self).stack_name}-{cid}",  # the name docs/operations.md gives it, stable
            metric=metric,
            threshold=threshold,
            comparison_operator=comparison,
            evaluation_periods=evaluation_periods,
            datapoints_to_alarm=datapoints_to_alarm,
            treat_missing_data=missing,
            alarm_description=description,
        )
        alarm.add_alarm_action(cw_actions.SnsAction(self.topic))
        alarm.add_ok_action(cw_actions.SnsAction(self.topic))
        self.alarms[cid] = alarm

    def _dashboard(self, watched: Watched) -> cw.Dashboard:
        five = Duration.minutes(5)
        shards = [s.id for s in self._config.shards()]
        dashboard = cw.Dashboard(self, "Dashboard", dashboard_name="genesys-notification-bridge")
        counts = [
            self._metric(n, WORKER, "Sum", five)
            for n in ("EventsReceived", "EventsStored", "DuplicatesAbsorbed", "WriteErrors")
        ]
        dashboard.add_widgets(
            cw.GraphWidget(title="Events", left=counts, width=12),
            cw.GraphWidget(
                title="Live sockets per shard (sum over tasks; the dashboard's only)",
                left=[self._metric("LiveSockets", {**WORKER, "shard": s}, "Sum", five) for s in shards],
                width=12,
            ),
            cw.GraphWidget(
                title="Fleet: uncovered seconds and covering tasks per shard",
                left=[self._metric("FleetUncoveredSeconds", {**AUDITOR, "shard": s}, "Sum", five) for s in shards],
                right=[self._metric("FleetLiveTasks", {**AUDITOR, "shard": s}, "Minimum", five) for s in shards],
                width=12,
            ),
            cw.GraphWidget(
                title="Rotations by reason",
                left=[
                    cw.MathExpression(
                        expression=f"SEARCH('{{{self._config.metrics_namespace},reason,service}} MetricName=\"Rotations\"', 'Sum', 300)",
                        label="",
                        period=five,
                    )
                ],
                width=12,
            ),
            cw.GraphWidget(
                title="Queue depth and lag",
                left=[self._metric("QueueDepth", WORKER, "Maximum", five)],
                right=[self._metric("EventLagMs", WORKER, "p99", five)],
                width=12,
            ),
            cw.GraphWidget(
                title="Token remaining life",
                left=[
                    self._metric("TokenRemainingSeconds", {**MINTER, "org": o.name}, "Minimum", five)
                    for o in self._config.orgs
                ],
                width=12,
            ),
            cw.GraphWidget(
                title="Vend API",
                left=[watched.api.metric_count(period=five), watched.api.metric_server_error(period=five)],
                right=[watched.api.metric_latency(period=five, statistic="p99")],
                width=12,
            ),
        )
        return dashboard
