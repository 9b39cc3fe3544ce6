"""`make demo` and `make soak`: the whole bridge on one machine, faults injected, verified against ground truth.

Genesys is the emulator, AWS is moto's server; the minter runs on its schedule, and two stream worker processes run
active-active as ECS would run two tasks. Midway one task is SIGKILLed (a crash, an OOM, a lost host) and a
replacement started. At the end every event the emulator published while the fleet was covering is looked up in the
events table, which prints ``verified: published=N stored=N lost=0 duplicates_absorbed=M ...``. The archiver reads
the tables' streams throughout; the last line is ``archive: segments=S items=N verified``: the archive checked as
``genesys-bridge verify-archive`` checks it, and the window's events counted in it as ``verified:`` counts the table.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import warnings
from collections import Counter
from pathlib import Path

from emulator.config import EmulatorConfig
from emulator.eventbridge import EventBridgeConfig
from emulator.faults import chaos_menu, needs_channel
from emulator.server import EmulatorServer
from evidence.keys import envelope_key
from functions.mint_token.policy import RefreshPolicy
from genesys.timefmt import iso_ms
from local_stack.archive import ArchiverLoop, LocalArchive, check_archive, create_archive
from local_stack.aws import local_aws
from local_stack.eventbridge import LOCAL_BUS, SOURCE, ConsumerLoop, EventBridgePath, create_eventbridge_path
from local_stack.fleet import LocalFleet
from local_stack.repairs import judge_and_repair
from local_stack.waiting import eventually_sync
from stream_worker.verify import verify

TOPICS = [
    "v2.users.alice.presence",
    "v2.users.alice.routingStatus",
    "v2.users.bob.presence",
    "v2.routing.queues.support.conversations",
    "v2.routing.queues.sales.calls",
    "v2.detail.events.conversation.c-100.acd.start",
    "v2.analytics.queues.support.observations",
    "v2.audits.entitytype.user.entityid.alice",
]
# 60 s tokens and 90 s channels: rotations every half minute or so. The worker rotates 10 s (slot 0) and 15 s
# (slot 1) before expiry and needs 20 s of token life; the minter runs every 5 s and refreshes under 30 s left.
TOKEN_LIFETIME, CHANNEL_LIFETIME = 60, 90
POLICY = RefreshPolicy(fraction=0.5, schedule_period=5, rotation_lead=20, retry_allowance=2)
WORKER = {
    "token_rotation_lead": 10,
    "channel_rotation_lead": 10,
    "min_token_life": 20,
    "ping_after": 3,
    "liveness_timeout": 2,
    "confirm_timeout": 5,
    "ledger_interval": 2,
    "metrics_interval": 3600,
    "drain_timeout": 60,
    "touch_interval": 2,
    "delivery_allowance": 0.5,
}
FAULTS = chaos_menu(pause=12, stall=20)
TASKS = 2
BLACKOUT = 20.0  # seconds with no worker task at all: only EventBridge carries the events


class Demo:
    def __init__(self, fleet: LocalFleet, seed: int, fault_every: tuple[float, float], outage: float = 0.0) -> None:
        self.fleet = fleet
        # the websocket blackout; with an outage, EventBridge drops Genesys' events for as long (a Pending bus)
        self.outage = outage
        self.blackout = outage or BLACKOUT
        self.outage_ended = 0.0
        self.rng = random.Random(seed)
        self.fault_every = fault_every
        self.faults: Counter[str] = Counter()
        self.stop = threading.Event()
        self.started = time.monotonic()
        self.window_start = time.time()

    def progress(self, last_fault: str) -> str:
        emulator = self.fleet.emulator
        topics = set(self.fleet.topics)
        published = sum(1 for e in emulator.events() if e.topic in topics and e.published_at >= self.window_start)
        paths = self.fleet.sources((self.window_start, time.time()))
        tasks = sum(1 for w in self.fleet.workers.values() if w.alive())
        minted = sum(1 for r in (self.fleet.minter.results if self.fleet.minter else []) if r.outcome == "minted")
        return (
            f"[{time.monotonic() - self.started:5.0f}s] published={published} "
            f"stored={paths['websocket'] + paths['eventbridge']} (via_websocket={paths['websocket']} "
            f"via_eventbridge={paths['eventbridge']}) tasks={tasks} "
            f"live_sockets={emulator.snapshot()['sockets']} rotations={sum(self.fleet.rotations().values())} "
            f"tokens_minted={minted} faults={sum(self.faults.values())} {last_fault}"
        )

    def inject(self) -> str:
        spec = dict(self.rng.choice(FAULTS))
        kind = spec.pop("type")
        if needs_channel({"type": kind}):
            live = [c["id"] for c in self.fleet.emulator.snapshot()["channels"] if c["connected"]]
            if not live:
                return ""
            spec["channel"] = self.rng.choice(live)
        self.fleet.emulator.fault(kind, **spec)
        self.faults[kind] += 1
        return f"<- {kind}"

    def run(self, duration: float) -> None:
        next_fault = time.monotonic() + self.rng.uniform(*self.fault_every)
        next_print, last = 0.0, ""
        deadline = self.started + duration
        crash_at, replace_at = self.started + duration / 2, self.started + duration / 2 + 5
        blackout_at = self.started + duration / 5 if duration >= 2 * self.blackout else 0.0
        restore_at = 0.0
        while not self.stop.is_set() and time.monotonic() < deadline:
            now = time.monotonic()
            if blackout_at and now >= blackout_at:
                for worker in [w for w in self.fleet.workers.values() if w.alive()]:
                    self.fleet.kill(worker.worker_id)
                if self.outage:
                    self.fleet.emulator.fault("eventbridge_pending", seconds=self.outage)
                last, blackout_at, restore_at = (
                    f"<- {'total outage' if self.outage else 'websocket blackout'}: every task killed for "
                    f"{self.blackout:.0f} s{', EventBridge dropping events' if self.outage else ''}",
                    0.0,
                    now + self.blackout,
                )
                self.faults["blackout"] += 1
            elif restore_at and now >= restore_at:
                restarted = [self.fleet.add_worker() for _ in range(TASKS)]
                self.outage_ended = time.time() if self.outage else 0.0
                last, restore_at = f"<- blackout over: started {', '.join(w.worker_id for w in restarted)}", 0.0
            elif restore_at:
                pass  # no other fault while nothing runs
            elif crash_at and now >= crash_at:
                victim = next(w for w in self.fleet.workers.values() if w.alive())
                self.fleet.kill(victim.worker_id)
                last, crash_at = f"<- SIGKILL {victim.worker_id}", 0.0
                self.faults["task_killed"] += 1
            elif replace_at and not crash_at and now >= replace_at:
                replacement = self.fleet.add_worker()
                last, replace_at = f"<- started {replacement.worker_id} (as ECS replaces a task)", 0.0
            elif now >= next_fault:
                last = self.inject() or last
                next_fault = now + self.rng.uniform(*self.fault_every)
            if now >= next_print:
                print(self.progress(last), flush=True)
                next_print, last = now + 2.0, ""
            self.stop.wait(0.1)


def run(args: argparse.Namespace, emulator: EmulatorServer, path: EventBridgePath) -> int:
    fleet = LocalFleet(emulator, TOPICS, POLICY, args.workdir, WORKER).start()
    # governance and a day: the local archive is thrown away with moto; a deployed one is compliance, 7 years
    archive = create_archive(fleet.names, mode="GOVERNANCE", days=1)
    archiver = ArchiverLoop(archive, fleet.names).start()
    consumer = ConsumerLoop(
        path,
        {
            "EVENTS_TABLE": fleet.names.events_table,
            "PAYLOAD_BUCKET": fleet.names.payload_bucket,
            "SOURCES": json.dumps({SOURCE: fleet.names.org}),
            "POWERTOOLS_METRICS_DISABLED": "true",
        },
    ).start()
    print(f"starting {TASKS} stream worker tasks ({len(TOPICS)} topics, 2 sockets per shard each) ...", flush=True)
    tasks = [fleet.add_worker() for _ in range(TASKS)]
    for task in tasks:
        fleet.wait_connected(task, within=60)
    # one fault at a time: a stalled socket, the slowest to notice, is dead and replaced within ~6 s
    demo = Demo(fleet, args.seed, (6.0, 9.0) if args.soak else (8.0, 14.0), args.outage)
    signal.signal(signal.SIGINT, lambda *_: demo.stop.set())
    signal.signal(signal.SIGTERM, lambda *_: demo.stop.set())
    demo.run(args.duration)
    # the auditor and the repair as their schedules run them, while the minter still keeps a token: every whole
    # minute of the run judged, then each uncovered gap rebuilt from Genesys REST
    if demo.outage_ended:  # its last seconds judged: wait for the minute after it to end
        wait = (demo.outage_ended // 60 + 1) * 60 + 1 - time.time()
        if wait > 0:
            print(
                f"waiting {wait:.0f} s for the minute after the outage to end, so the auditor can judge it", flush=True
            )
            time.sleep(wait)
    started = time.monotonic()
    repairs = judge_and_repair(fleet.names, ["local:0"], demo.window_start, time.time(), emulator.base_url)
    print(f"judged and repaired in {time.monotonic() - started:.1f} s", flush=True)
    window = (demo.window_start, time.time())
    # nothing published after the window counts; left running, the generator would only grow the SQS queue the
    # stopped consumer no longer reads (moto recounts it on every send) and slow the checks that follow
    emulator.fault("pause_events", seconds=3600)
    print("stopping: SIGTERM to every task, draining writes; waiting for EventBridge to deliver ...", flush=True)
    codes = fleet.stop()
    # what EventBridge still owes: the window's events outside the uncovered gaps (there both paths were down; a gap
    # EventBridge covered must have every event stored)
    gaps = [(g.start, g.end) for g in repairs.uncovered]
    wanted = {
        envelope_key(e.envelope)
        for e in emulator.events()
        if e.topic in set(TOPICS)
        and window[0] <= e.published_at < window[1]
        and not any(a <= e.published_at <= b for a, b in gaps)
    }
    try:
        eventually_sync(lambda: wanted <= set(fleet.stored_keys(window[0])), 90, "EventBridge delivered", interval=1.0)
    except TimeoutError as exc:
        print(f"  {exc}", flush=True)
    consumer.stop()
    archiver.stop()
    result = fleet.verification(window, gaps)
    sources = fleet.sources(window)
    rotations = fleet.rotations()
    coverage = fleet.coverage(window)
    duplicates = sum(
        int(r.get("duplicates_absorbed", 0))
        for w in fleet.workers.values()
        for r in w.lines()
        if r["message"] == "stream worker stopped"
    )
    print(f"tasks' exit codes: {codes}")
    print(f"rotations by reason: {dict(rotations) or 'none'}")
    print(f"faults injected: {dict(demo.faults) or 'none'}")
    print(f"fleet uncovered seconds: {coverage.uncovered_seconds:.3f} in {len(coverage.gaps)} interval(s)")
    for task_id, gaps in sorted(coverage.by_task.items()):
        print(f"  {task_id}: {sum(b - a for a, b in gaps):.3f} s without its own socket (the others covered)")
    for event in result.lost_events[:5]:
        print(f"  lost: seq={event['seq']} topic={event['topic']} published_at={event['published_at']:.3f}")
    verified = {
        "published": result.published,
        "stored": result.stored,
        "lost": result.published - result.stored,  # inside recorded gaps or not
        "duplicates_absorbed": duplicates,
        "rotations": sum(rotations.values()),
        "faults": sum(demo.faults.values()),
        "via_websocket": sources["websocket"],
        "via_eventbridge": sources["eventbridge"],
        "only_via_eventbridge": sources["only_eventbridge"],
        "gaps": len(repairs.uncovered),
        "repaired": repairs.reconstructions,
        "lost_outside_gaps": result.lost,
    }
    for gap in repairs.gaps:
        print(
            f"gap {gap.id}: {gap.seconds:.3f} s {gap.classification}, {gap.status}"
            f"{' ' + str(gap.rebuilt) if gap.rebuilt else ''}{' (' + '; '.join(gap.reasons) + ')' if gap.reasons else ''}"
        )
    if repairs.gaps:  # the same records as an operator reads them: the CLI through its entry point
        show_gaps(fleet, window[0] - 60)
    page = args.workdir / "report.html"
    figures = fleet.report(window, page, verified)
    print(f"audit report: {page} (figures: {figures})")
    print("verified: " + " ".join(f"{name}={value}" for name, value in verified.items()), flush=True)
    archived = archive_line(archive, fleet, window)
    return 0 if result.ok and archived and all(code == 0 for code in codes.values()) else 1


def show_gaps(fleet: LocalFleet, since: float) -> None:
    command = ["genesys-bridge", "--coverage-table", fleet.names.coverage_table, "gaps", "--since", iso_ms(since)]
    print("$ " + " ".join(command), flush=True)
    entry = Path(sys.executable).with_name("genesys-bridge")  # the console script installed beside this Python
    answer = subprocess.run(  # noqa: S603 - the project's own console script, arguments it made
        [str(entry), *command[1:]], capture_output=True, text=True, check=False
    )
    print((answer.stdout + answer.stderr).rstrip(), flush=True)


def archive_line(archive: LocalArchive, fleet: LocalFleet, window: tuple[float, float]) -> bool:
    """The archive checked as verify-archive checks it (signatures, chain, objects, the table both ways), and the
    window's events counted in it the way ``verified:`` counts them in the table: ``items`` equals ``stored``."""
    check = check_archive(archive, fleet.names, window[0] - 60, time.time() + 60)
    in_window = verify([e.as_json() for e in fleet.emulator.events()], check.event_keys, set(TOPICS), window)
    for finding in check.findings[:10]:
        print(f"  archive: {finding}")
    state = "verified" if not check.findings else f"NOT verified ({len(check.findings)} finding(s))"
    print(f"archive: segments={check.segments} items={in_window.stored} {state}", flush=True)
    return not check.findings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run the whole bridge locally with faults and verify it.")
    parser.add_argument("--duration", type=float, default=120)
    parser.add_argument("--seed", type=int, default=None, help="fault and event seed (random when omitted)")
    parser.add_argument("--soak", action="store_true", help="faults every 6-9 s instead of every 8-14 s")
    parser.add_argument("--event-rate", type=float, default=20)
    parser.add_argument("--workdir", type=Path, default=Path(".demo"))
    parser.add_argument(
        "--outage", type=float, default=0.0, help="seconds in which neither sockets nor EventBridge deliver (0: none)"
    )
    args = parser.parse_args(argv)
    if args.seed is None:
        args.seed = random.randrange(1_000_000)
    print(f"seed={args.seed} duration={args.duration:.0f}s worker logs: {args.workdir}/task-*.log", flush=True)
    # the functions run in this process share Powertools' metric set: with metrics off for all of them, none
    # prints another's (on Lambda each is its own process, and its metrics go to CloudWatch)
    os.environ["POWERTOOLS_METRICS_DISABLED"] = "true"
    # with metrics off there is nothing to publish, which Powertools' flush warns about: not news on this terminal
    warnings.filterwarnings("ignore", message="No application metrics to publish", category=UserWarning)
    config = EmulatorConfig(
        token_lifetime=TOKEN_LIFETIME,
        channel_lifetime=CHANNEL_LIFETIME,
        heartbeat_interval=2,
        socket_closing_grace=20,
        event_rate=args.event_rate,
        seed=args.seed,
    )
    with local_aws() as endpoint:
        path = create_eventbridge_path(TOPICS)
        # EventBridge as it is: late, sometimes twice (its own redelivery, or Genesys' retry), in any order
        partner = EventBridgeConfig(
            bus=LOCAL_BUS,
            source=SOURCE,
            endpoint_url=endpoint,
            seed=args.seed,
            duplicate_rate=0.02,
            target_queue_url=path.queue_url,
            retry_rate=0.01,
            reorder=True,
        )
        config = dataclasses.replace(config, eventbridge=partner)
        with EmulatorServer(config) as emulator:
            print(f"Genesys emulator on {emulator.base_url}; AWS (moto) on {endpoint}; EventBridge on", flush=True)
            return run(args, emulator, path)


if __name__ == "__main__":
    sys.exit(main())
