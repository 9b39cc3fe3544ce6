"""The emulator's second path: every event it publishes is also sent as a Genesys partner event to EventBridge.

As Genesys' "Amazon EventBridge Source" integration does: ``detail-type`` is the topic template with every
parameter as ``{id}``, ``source`` is ``aws.partner/genesys.com/cloud/<org id>/<suffix>``, ``detail`` is the websocket
envelope plus ``timestamp``. Switches cover what is undocumented or goes wrong: the CorrelationId on this path, a
delivery delay, duplicate deliveries (EventBridge's, same ``id``; Genesys' retries, a new ``id``), reordering, an outage after which Genesys redelivers
(it retries for up to four days), and a bus not yet associated (Pending), which drops events silently.

Locally the events go to a custom bus with PutEvents (moto keeps no rules on a partner bus, whose name has ``/``).
"""

from __future__ import annotations

import json
import logging
import queue
import random
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Literal

import boto3

from genesys.timefmt import iso_ms
from genesys.topics import detail_type, entity_ids

log = logging.getLogger(__name__)
CorrelationMode = Literal["equal", "different", "per_conversation"]
MAX_ENTRIES = 10  # PutEvents takes at most 10 entries per call


@dataclass(frozen=True)
class EventBridgeConfig:
    bus: str  # where PutEvents sends (locally a custom bus)
    source: str  # aws.partner/genesys.com/cloud/<org id>/<suffix>
    endpoint_url: str | None = None
    region: str = "us-east-1"
    account: str = "123456789012"
    delay: float = 0.2  # EventBridge arrives ~200 ms after the websocket (a public capture)
    duplicate_rate: float = 0.0  # EventBridge's at-least-once delivery: the same event (same id) to the target again
    target_queue_url: str | None = None  # where the rule delivers, for those duplicates (needed with duplicate_rate)
    retry_rate: float = 0.0  # Genesys sending an event twice (a retried PutEvents): same detail, a new id
    reorder: bool = False
    correlation: CorrelationMode = "per_conversation"
    seed: int = 0


@dataclass
class PartnerPublisher:
    """A background sender: the emulator's loop only enqueues; this thread delivers, late, twice or never."""

    config: EventBridgeConfig
    delivered: list[dict[str, Any]] = field(default_factory=list)  # ground truth: (seq, id) per delivery
    dropped: list[int] = field(default_factory=list)  # seqs dropped while the bus was pending
    _queue: queue.Queue[tuple[float, int, dict[str, Any]]] = field(default_factory=queue.Queue)
    _outage_until: float = 0.0
    _pending_until: float = 0.0
    _held: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __post_init__(self) -> None:
        self._rng = random.Random(self.config.seed)
        self._lock = threading.Lock()

    # ---------------------------------------------------------------- called on the emulator's loop
    def offer(self, seq: int, envelope: dict[str, Any], published_at: float) -> None:
        kind = detail_type(str(envelope["topicName"]))
        if kind is None:
            return  # Genesys carries only known topics on this path
        if time.time() < self._pending_until:
            with self._lock:
                self.dropped.append(seq)  # an unassociated bus: Genesys' events are dropped, silently
            return
        entry = {
            "Source": self.config.source,
            "DetailType": kind,
            "Detail": json.dumps({**self._correlated(envelope), "timestamp": iso_ms(published_at)}),
            "Resources": [],
            "EventBusName": self.config.bus,
        }
        self._queue.put((published_at + self.config.delay, seq, entry))

    def outage(self, seconds: float) -> None:
        """AWS unreachable from Genesys: events are held, then redelivered when it is back."""
        self._outage_until = time.time() + seconds

    def pending(self, seconds: float) -> None:
        self._pending_until = time.time() + seconds

    def _correlated(self, envelope: dict[str, Any]) -> dict[str, Any]:
        mode = self.config.correlation
        if mode == "equal":
            return envelope
        if mode == "different":
            correlation = str(uuid.UUID(int=self._rng.getrandbits(128), version=4))
        else:  # one value for the whole conversation (or entity), as observed
            entity = next(iter(entity_ids(str(envelope["topicName"])).values()), "")
            correlation = str(uuid.uuid5(uuid.NAMESPACE_URL, f"conversation/{entity}"))
        return {**envelope, "metadata": {**(envelope.get("metadata") or {}), "CorrelationId": correlation}}

    # ---------------------------------------------------------------- the sender
    def start(self) -> PartnerPublisher:
        self._thread = threading.Thread(target=self._run, name="eventbridge-publisher", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)

    def _run(self) -> None:
        session = boto3.session.Session(
            region_name=self.config.region,
            aws_access_key_id="local",
            aws_secret_access_key="local",  # noqa: S106 - moto accepts any credentials
        )
        client = session.client("events", endpoint_url=self.config.endpoint_url)
        sqs = session.client("sqs", endpoint_url=self.config.endpoint_url)
        waiting: list[tuple[float, int, dict[str, Any]]] = []
        while not self._stop.is_set():
            try:
                waiting.append(self._queue.get(timeout=0.05))
                while True:
                    waiting.append(self._queue.get_nowait())
            except queue.Empty:
                pass
            now = time.time()
            due = [w for w in waiting if w[0] <= now]
            waiting = [w for w in waiting if w[0] > now]
            if now < self._outage_until:
                self._held.extend((seq, entry) for _, seq, entry in due)
                continue
            batch = [(seq, entry) for _, seq, entry in due] + self._held
            self._held = []
            if self.config.reorder:
                self._rng.shuffle(batch)
            batch += [(s, e) for s, e in batch if self._rng.random() < self.config.retry_rate]
            for i in range(0, len(batch), MAX_ENTRIES):
                chunk = batch[i : i + MAX_ENTRIES]
                try:
                    answer = client.put_events(Entries=[e for _, e in chunk])
                except Exception as exc:  # AWS unreachable or the bus missing: Genesys holds and retries
                    log.warning("partner event delivery failed; retrying", extra={"error": type(exc).__name__})
                    self._held.extend(batch[i:])
                    self._stop.wait(0.5)
                    break
                with self._lock:
                    for (seq, _), result in zip(chunk, answer["Entries"], strict=True):
                        self.delivered.append({"seq": seq, "id": result.get("EventId", "")})
                self._redeliver(sqs, chunk, answer["Entries"])

    def _redeliver(self, sqs: Any, chunk: list[tuple[int, dict[str, Any]]], results: list[dict[str, Any]]) -> None:
        """EventBridge delivering some events to the rule's target a second time, as it may: same event, same id."""
        if self.config.target_queue_url is None or self.config.duplicate_rate <= 0:
            return
        for (seq, entry), result in zip(chunk, results, strict=True):
            if "EventId" not in result or self._rng.random() >= self.config.duplicate_rate:
                continue
            event = {
                "version": "0",
                "id": result["EventId"],
                "detail-type": entry["DetailType"],
                "source": entry["Source"],
                "account": self.config.account,
                "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),  # as EventBridge writes it
                "region": self.config.region,
                "resources": [],
                "detail": json.loads(entry["Detail"]),
            }
            try:
                sqs.send_message(QueueUrl=self.config.target_queue_url, MessageBody=json.dumps(event))
            except Exception as exc:  # the target is gone (the test or demo is ending): no second delivery
                log.warning("duplicate delivery failed", extra={"error": type(exc).__name__})
                continue
            with self._lock:
                self.delivered.append({"seq": seq, "id": result["EventId"]})

    def paths(self) -> dict[int, list[str]]:
        """Ground truth per event sequence number: the EventBridge ids it was delivered under."""
        with self._lock:
            found: dict[int, list[str]] = {}
            for record in self.delivered:
                found.setdefault(record["seq"], []).append(record["id"])
            return found
