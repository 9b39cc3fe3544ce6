"""Worker metrics: counted in memory, flushed as EMF through Powertools every ``metrics_interval`` seconds."""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.metrics.functions import is_metrics_disabled
from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import AmazonCloudWatchEMFProvider

from evidence.arrivals import WEBSOCKET
from genesys.observability import emit_metric, metrics_namespace

COUNTERS = (
    "EventsReceived",
    "EventsStored",
    "DuplicatesAbsorbed",
    "WriteErrors",
    "WriteRejected",
    "Quarantined",
    "RejectedTopics",
    "RepeatedContent",
)
BY_SOURCE = ("EventsStored", "DuplicatesAbsorbed")
LAG_SAMPLES = 99  # Powertools flushes by itself at 100 values of one metric, which would split the blob


@dataclass
class WorkerMetrics:
    namespace: str | None = None
    counts: Counter[str] = field(default_factory=Counter)  # since the last flush
    by_org: Counter[tuple[str, str]] = field(default_factory=Counter)  # (name, org) since the last flush
    totals: Counter[str] = field(default_factory=Counter)  # since start, for progress and tests
    rotations: Counter[str] = field(default_factory=Counter)
    rotation_totals: Counter[str] = field(default_factory=Counter)
    _uncovered_reported: dict[str, float] = field(default_factory=dict)
    lag_ms: list[float] = field(default_factory=list)
    _lag_seen: int = 0
    _rng: random.Random = field(default_factory=random.Random)

    def __post_init__(self) -> None:
        # its own metric set: Powertools' Metrics share one per process, which would mix in any other emitter's
        # (the local stack runs the EventBridge consumer in the same process)
        self._emf = AmazonCloudWatchEMFProvider(
            namespace=self.namespace or metrics_namespace(), service="stream-worker"
        )

    def count(self, name: str, value: int = 1, *, org: str | None = None) -> None:
        """``org``: also counted for the org (EventsStored, Quarantined, RejectedTopics: their alarms are per org,
        so one org's trouble never hides behind another's traffic)."""
        self.counts[name] += value
        self.totals[name] += value
        if org is not None:
            self.by_org[(name, org)] += value

    def rotation(self, reason: str) -> None:
        self.rotations[reason] += 1
        self.rotation_totals[reason] += 1

    def lag(self, milliseconds: float) -> None:
        # reservoir sample: an unbiased 100 of the interval's lags
        self._lag_seen += 1
        if len(self.lag_ms) < LAG_SAMPLES:
            self.lag_ms.append(milliseconds)
        else:
            slot = self._rng.randrange(self._lag_seen)
            if slot < LAG_SAMPLES:
                self.lag_ms[slot] = milliseconds

    def flush(
        self, *, queue_depth: int, live_sockets: dict[str, int] | None, uncovered_totals: dict[str, float]
    ) -> None:
        """Emit the interval's counts. ``uncovered_totals`` are running totals per shard; the delta is emitted.

        ``live_sockets`` is None while the worker shuts down: a stopping task has no sockets on purpose, and
        reporting them (or the seconds after its last socket closed) would page for every deploy.
        """
        deltas = {shard: total - self._uncovered_reported.get(shard, 0.0) for shard, total in uncovered_totals.items()}
        self._uncovered_reported.update(uncovered_totals)
        if is_metrics_disabled():  # POWERTOOLS_METRICS_DISABLED, as for every Powertools metric
            self._reset()
            return
        for name in COUNTERS:
            self._emf.add_metric(name=name, unit=MetricUnit.Count, value=self.counts.get(name, 0))
        self._emf.add_metric(name="QueueDepth", unit=MetricUnit.Count, value=queue_depth)
        for value in self.lag_ms:
            self._emf.add_metric(name="EventLagMs", unit=MetricUnit.Milliseconds, value=value)
        self._emf.flush_metrics()
        if live_sockets is not None:
            for shard, live in live_sockets.items():
                self._single("LiveSockets", MetricUnit.Count, live, "shard", shard)
                self._single("UncoveredSeconds", MetricUnit.Seconds, round(deltas.get(shard, 0.0), 3), "shard", shard)
        for reason, value in self.rotations.items():
            self._single("Rotations", MetricUnit.Count, value, "reason", reason)
        for name in BY_SOURCE:  # the same counts per path, beside the EventBridge consumer's
            self._single(name, MetricUnit.Count, self.counts.get(name, 0), "source", WEBSOCKET)
        for (name, org), value in self.by_org.items():
            emit_metric(
                name,
                MetricUnit.Count,
                value,
                self._emf.namespace,
                {"service": "stream-worker", "org": org, "source": WEBSOCKET},
            )
        self._reset()

    def _reset(self) -> None:
        self.counts.clear()
        self.by_org.clear()
        self.rotations.clear()
        self.lag_ms.clear()
        self._lag_seen = 0

    def _single(self, name: str, unit: MetricUnit, value: float, dimension: str, dim_value: str) -> None:
        emit_metric(name, unit, value, self._emf.namespace, {"service": "stream-worker", dimension: dim_value})
