"""`make bench`: every figure against a baseline measured in the same run, each comparison run ``--repeat`` times
(at least five). In each round the variant and its baseline run side by side in their own processes and take turns
in ``--slices`` slices each (tests/bench/slices.py), so drift on the machine touches both sides alike. A figure is
its median with its spread (min-max); targets are judged on the median, and a figure whose spread crosses its target says so. One
table is printed; ``.bench/results.json`` keeps every run's value, and the previous run's file is compared with
this one (does each median lie within the other run's spread?).

Each variant runs in its own process, so CPU and memory belong to it alone. ``make bench-memory`` is the 30-minute
memory run (tests/bench/memory.py).
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.bench import harness
from tests.bench.slices import Commands, interleaved, totals
from tests.bench.stats import MISSED, Figure, Sense

CHILDREN: dict[str, str] = {
    "pipeline_bare": "tests.bench.pipeline:bare",
    "pipeline_worker": "tests.bench.pipeline:worker",
    "store_raw": "tests.bench.store:raw",
    "store_worker": "tests.bench.store:worker",
    "store_writer": "tests.bench.store:writer",
    "memory": "tests.bench.memory:steady_rss",
    "headroom": "tests.bench.memory:headroom",
    "queue_memory": "tests.bench.memory:queue_memory",
    "loss": "tests.bench.loss:loss",
    "vend": "tests.bench.vend:vend",
}
RESULTS = Path(".bench/results.json")
PREVIOUS = Path(".bench/previous.json")
MEMORY_RESULTS = Path(".bench/memory.json")
TARGETS: dict[str, tuple[float, Sense]] = {  # figure: (limit, sense): what docs/benchmarks.md promises
    "pipeline_us_per_event": (50.0, "max"),
    "e2e_cpu_ratio": (1.1, "max"),
    "e2e_stored_ratio": (0.9, "min"),
    "writer_scale_ratio": (1.8, "min"),
    "bytes_ratio": (0.5, "max"),
    "worker_lost": (0, "max"),
    "rss_mb_steady": (100.0, "max"),
    "rss_slope_mb_per_min": (0.1, "max"),
}
MIN_REPEAT = 5
SLICED = {"pipeline_bare", "pipeline_worker", "store_raw", "store_worker", "store_writer"}


def child(name: str, params: dict[str, Any], sliced: bool = False) -> dict[str, Any]:
    """Run one child; a sliced one either as the parent says over stdin (``sliced``) or for ``slices`` slices at
    once, returning their sums."""
    module, function = CHILDREN[name].split(":")
    call = getattr(importlib.import_module(module), function)
    if name not in SLICED:
        result: dict[str, Any] = call(**params)
        return result
    commands = Commands() if sliced else Commands(count=params.pop("slices", 1))
    call(**params, commands=commands)
    return totals(commands.results) if commands.results else {}


def per_event(rounds: list[dict[str, float]]) -> list[float]:
    """CPU µs per event of each round, from its summed slices."""
    return [r["cpu_s"] / r["events"] * 1e6 for r in rounds]


def per_second(rounds: list[dict[str, float]]) -> list[float]:
    return [r["events"] / r["wall_s"] for r in rounds]


def paired(
    repeat: int,
    slices: int,
    a: tuple[str, dict[str, Any]],
    b: tuple[str, dict[str, Any]],
    reset: Callable[[], None] | None = None,
) -> tuple[list[dict[str, float]], list[dict[str, float]]]:
    """``repeat`` rounds of a variant beside its baseline, taking turns in slices; each round's sums."""
    first: list[dict[str, float]] = []
    second: list[dict[str, float]] = []
    for _ in range(repeat):
        x, y = interleaved(a, b, slices)
        first.append(x)
        second.append(y)
        if reset is not None:
            reset()
    return first, second


def pipeline(repeat: int, events: int, slices: int) -> dict[str, Figure]:
    figures: dict[str, Figure] = {}
    for size, suffix in ((500, ""), (2000, "_2kb")):
        params = {"size": size, "per_slice": events // slices}
        bare, worker = paired(repeat, slices, ("pipeline_bare", params), ("pipeline_worker", params))
        figures[f"pipeline_us_per_event{suffix}"] = Figure.of(per_event(worker))
        figures[f"bare_us_per_event{suffix}"] = Figure.of(per_event(bare))
        figures[f"pipeline_ratio{suffix}"] = Figure.ratio(per_event(worker), per_event(bare))
    return figures


def store(repeat: int, events: int, threads: int, slices: int) -> dict[str, Figure]:
    from tests.bench.responder import Responder

    with Responder() as responder:
        common = {"threads": threads, "url": responder.url, "per_slice": events // slices}
        raw, worker = paired(repeat, slices, ("store_raw", common), ("store_worker", common), responder.reset)
        one, two = paired(
            repeat,
            slices,
            ("store_writer", {**common, "processes": 1, "tag": "one-"}),
            ("store_writer", {**common, "processes": 2, "tag": "two-"}),
            responder.reset,
        )
    return {
        "raw_cpu_us_per_put": Figure.of(per_event(raw)),
        "raw_puts_per_s": Figure.of(per_second(raw)),
        "worker_cpu_us_per_stored": Figure.of(per_event(worker)),
        "worker_stored_per_s": Figure.of(per_second(worker)),
        "e2e_cpu_ratio": Figure.ratio(per_event(worker), per_event(raw)),
        "e2e_stored_ratio": Figure.ratio(per_second(worker), per_second(raw)),
        "writer_1_process_per_s": Figure.of(per_second(one)),
        "writer_2_processes_per_s": Figure.of(per_second(two)),
        "writer_scale_ratio": Figure.ratio(per_second(two), per_second(one)),
    }


def moto_reference(puts: int, threads: int) -> dict[str, Figure]:
    """The same raw puts against moto's server: what the store costs when the store is moto (reported apart)."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        result = harness.run_child(
            "store_raw", per_slice=puts, threads=threads, url=f"http://{host}:{port}", create_table=True
        )
    finally:
        server.stop()
    return {"moto_puts_per_s": Figure.of(per_second([result]))}


def costs() -> dict[str, Figure]:
    """Writes, write units and dollars per million stored events, for one replica, the default two, and two with
    EventBridge delivering the same events (each further copy is a conditional put that fails: one more write)."""
    from tests.bench.cost import PRICES, cost

    figures: dict[str, Figure] = {}
    one = cost(duplicate_puts=0.0)
    for shape, duplicates in (("1_replica", 0.0), ("2_replicas", 1.0), ("2_replicas_eventbridge", 2.0)):
        shaped = cost(duplicate_puts=duplicates)
        figures[f"writes_per_event_{shape}"] = Figure.of([shaped["writes_per_event"]])
        figures[f"write_units_per_event_{shape}"] = Figure.of([shaped["write_units_per_event"]])
        figures[f"usd_per_million_events_{shape}"] = Figure.of([shaped["write_units_per_event"] * PRICES.write_unit])
    figures["envelope_bytes"] = Figure.of([one["envelope_bytes"]])
    figures["bytes_stored_per_event"] = Figure.of([one["bytes_stored_per_event"]])
    figures["bytes_stored_per_event_before"] = Figure.of([one["bytes_stored_per_event_all_projection"]])
    figures["bytes_ratio"] = Figure.of([one["bytes_ratio"]])
    figures["usd_per_million_events_stored_month"] = Figure.of(
        [one["bytes_stored_per_event"] * 1e6 / 2**30 * PRICES.storage_gb_month]
    )
    return figures


def verdicts(figures: dict[str, Figure]) -> dict[str, str]:
    return {name: figures[name].verdict(limit, sense) for name, (limit, sense) in TARGETS.items() if name in figures}


def target_of(name: str, verdict: dict[str, str]) -> str:
    if name not in TARGETS:
        return ""
    limit, sense = TARGETS[name]
    return f"{'≤' if sense == 'max' else '≥'} {limit:g}: {verdict.get(name, '')}"


def previous_of(name: str, figure: Figure, previous: dict[str, Any]) -> str:
    """How this run's figure sits beside the previous run's: each median within the other's spread, or not."""
    before = previous.get("figures", {}).get(name)
    if not before or len(figure.runs) == 1:
        return ""
    other = Figure.of(before["runs"])
    return f"{other.shown(2)}: {'agrees' if figure.agrees_with(other) else 'DIFFERS'}"


COMPARISONS = [  # label, figure, baseline, ratio (the ratio's median and spread are taken run by run)
    ("pipeline CPU µs/event, 0.5 KB: worker vs bare receive", "pipeline_us_per_event", "bare_us_per_event",
     "pipeline_ratio"),
    ("pipeline CPU µs/event, 2 KB: worker vs bare receive", "pipeline_us_per_event_2kb", "bare_us_per_event_2kb",
     "pipeline_ratio_2kb"),
    ("client CPU µs per stored event: worker vs raw put", "worker_cpu_us_per_stored", "raw_cpu_us_per_put",
     "e2e_cpu_ratio"),
    ("stored events/s: worker vs raw puts (same threads)", "worker_stored_per_s", "raw_puts_per_s",
     "e2e_stored_ratio"),
    ("writer stored events/s: 2 processes vs 1", "writer_2_processes_per_s", "writer_1_process_per_s",
     "writer_scale_ratio"),
]  # fmt: skip


def table(
    figures: dict[str, Figure], verdict: dict[str, str], previous: dict[str, Any], repeat: int, slices: int
) -> str:
    lines = [
        f"Each comparison: {repeat} rounds, the variant and its baseline side by side, taking {slices} turns each; "
        "median [min-max] over the rounds; targets judged on the median.",
        "",
        "| measure | figure | baseline | ratio | target | previous run's ratio |",
        "|---|---|---|---|---|---|",
    ]
    for label, a, b, ratio in COMPARISONS:
        if a not in figures:
            continue
        judged = a if a in TARGETS else ratio
        lines.append(
            f"| {label} | {figures[a].shown()} | {figures[b].shown()} | {figures[ratio].shown(2)} | "
            f"{target_of(judged, verdict)} | {previous_of(ratio, figures[ratio], previous)} |"
        )
    f = figures
    if "moto_puts_per_s" in f:
        lines.append(f"| raw puts/s against moto's server (for reference) | {f['moto_puts_per_s'].shown(0)} | | | | |")
    if "bytes_ratio" in f:
        lines.append(
            f"| DynamoDB bytes stored per event ({f['envelope_bytes'].shown(0)} B envelopes): now vs three ALL "
            f"indexes | {f['bytes_stored_per_event'].shown(0)} | {f['bytes_stored_per_event_before'].shown(0)} | "
            f"{f['bytes_ratio'].shown(2)} | {target_of('bytes_ratio', verdict)} | |"
        )
    if "worker_lost" in f:
        lines.append(
            f"| events lost, {f['loss_seconds'].shown(0)} s of closes + 8 s tokens: worker vs naive | "
            f"{f['worker_lost'].shown(0)}/{f['worker_published'].shown(0)} | "
            f"{f['naive_lost'].shown(0)}/{f['naive_published'].shown(0)} | | {target_of('worker_lost', verdict)} | |"
        )
    if "vend_warm_per_s" in f:
        speedup = f["vend_warm_per_s"].median / f["vend_uncached_per_s"].median
        lines.append(
            f"| vend requests/s: warm cache vs a secret read per request | {f['vend_warm_per_s'].shown(0)} | "
            f"{f['vend_uncached_per_s'].shown(0)} | {speedup:.1f} | | |"
        )
    if "writes_per_event_1_replica" in f:
        from tests.bench.cost import PRICES

        lines += [
            "",
            f"Writes per stored event and their price: DynamoDB on-demand, Standard table class, {PRICES.region}, "
            f"${PRICES.write_unit:.3f} per million write request units and ${PRICES.storage_gb_month:.2f} per "
            f"GB-month ({PRICES.source}).",
            "",
            "| deployed shape | write requests | write units | $ per million events (writes) |",
            "|---|---|---|---|",
        ]
        for shape, label in (
            ("1_replica", "one task per group"),
            ("2_replicas", "two replicas (the default)"),
            ("2_replicas_eventbridge", "two replicas and EventBridge"),
        ):
            lines.append(
                f"| {label} | {f[f'writes_per_event_{shape}'].shown(1)} | {f[f'write_units_per_event_{shape}'].shown(2)} "
                f"| {f[f'usd_per_million_events_{shape}'].shown(3)} |"
            )
        lines.append(
            f"| storage of a million events, per month | | | {f['usd_per_million_events_stored_month'].shown(3)} |"
        )
    return "\n".join(lines)


def memory_run(minutes: float, rate: float, topics: int, trace: bool) -> int:
    """``make bench-memory``: the queue's memory when full, the rate the worker sustains with headroom, then the
    long run at it, minute by minute."""
    from stream_worker.settings import WorkerSettings
    from tests.bench.responder import Responder

    queue_max = int(WorkerSettings.model_fields["queue_max"].default)
    full = harness.run_child("queue_memory", queue_max=queue_max)
    print(
        f"the writer's queue when full: {full['queue_max']:,} jobs of 0.5 KB frames hold {full['queue_mb']:.1f} MB "
        f"({full['bytes_per_job']:,.0f} B each: the frame and its parse; the item is made as it leaves)",
        flush=True,
    )
    with Responder() as responder:
        chosen: tuple[float, int] | None = None
        for offered, processes in ((rate, 1), (rate, 2), (rate * 0.8, 1), (rate * 0.6, 1)):
            check = harness.run_child("headroom", rate=offered, topics=topics, url=responder.url,
                                      write_processes=processes)  # fmt: skip
            responder.reset()
            print(
                f"headroom at {offered:.0f} events/s offered, {processes} writer process(es): stored "
                f"{check['stored_per_s']:.0f}/s, queue max {check['queue_max']}, at the end {check['queue_end']}, "
                f"the worker's process {check['cpu_share']:.0%} of a core: "
                f"{'sustained with headroom' if check['sustained'] else 'NOT sustained with headroom'}",
                flush=True,
            )
            if check["sustained"]:
                chosen = (offered, processes)
                break
        if chosen is None:
            print("no offered rate was sustained with headroom: the memory run would measure a backlog", flush=True)
            return 1
        offered, processes = chosen
        print(f"memory run: {minutes:g} min at {offered:.0f} events/s, {topics:,} topics, {processes} writer "
              f"process(es) ...", flush=True)  # fmt: skip
        print("| minute | RSS MB (worker) | RSS MB (writer processes) | queue depth | stored/s |", flush=True)
        print("|---|---|---|---|---|", flush=True)
        result = harness.run_child("memory", minutes=minutes, rate=offered, topics=topics, url=responder.url,
                                   write_processes=processes, trace=trace, timeout=minutes * 60 + 900,
                                   show_progress=True)  # fmt: skip
    figures = {
        "rss_mb_steady": Figure.of([result["rss_mb_steady"]]),
        "rss_slope_mb_per_min": Figure.of([result["rss_slope_mb_per_min"]]),
    }
    verdict = verdicts(figures)
    print(
        f"after the {result['warm_up_minutes']:g}-minute warm-up: RSS {result['rss_mb_steady']:.1f} MB steady "
        f"(max {result['rss_mb_max']:.1f}), slope {result['rss_slope_mb_per_min']:+.3f} MB/min; "
        f"steady {target_of('rss_mb_steady', verdict)}, slope {target_of('rss_slope_mb_per_min', verdict)}"
    )
    for line in result["tracemalloc_grown"]:
        print(f"  grew: {line}")
    MEMORY_RESULTS.parent.mkdir(exist_ok=True)
    MEMORY_RESULTS.write_text(json.dumps({"queue": full, "result": result, "verdicts": verdict}, indent=1) + "\n")
    return 0 if MISSED not in verdict.values() else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--child", choices=sorted(CHILDREN))
    parser.add_argument("--params", default="{}")
    parser.add_argument("--sliced", action="store_true", help="a child: one slice each time the parent says go")
    parser.add_argument("--repeat", type=int, default=MIN_REPEAT)
    parser.add_argument("--pipeline-events", type=int, default=20_000)
    parser.add_argument("--store-events", type=int, default=4_000)
    parser.add_argument("--slices", type=int, default=8, help="turns each side of a comparison takes per round")
    parser.add_argument("--write-threads", type=int, default=16)
    parser.add_argument("--loss-seconds", type=float, default=16.0)
    parser.add_argument("--memory", action="store_true", help="the memory run instead (make bench-memory)")
    parser.add_argument("--memory-minutes", type=float, default=30.0)
    parser.add_argument("--memory-rate", type=float, default=500.0)
    parser.add_argument("--trace", action="store_true", help="the memory run with tracemalloc snapshots diffed")
    args = parser.parse_args()
    harness.quiet()
    if args.child:
        print(json.dumps(child(args.child, json.loads(args.params), args.sliced)))
        return 0
    if args.memory:
        return memory_run(args.memory_minutes, args.memory_rate, 3000, args.trace)
    if args.repeat < MIN_REPEAT:
        parser.error(f"--repeat: at least {MIN_REPEAT} runs make a distribution")
    figures: dict[str, Figure] = {}
    figures.update(pipeline(args.repeat, args.pipeline_events, args.slices))
    figures.update(store(args.repeat, args.store_events, args.write_threads, args.slices))
    figures.update(moto_reference(500, args.write_threads))
    figures.update(costs())
    lost = harness.run_child("loss", seconds=args.loss_seconds)
    figures.update({name: Figure.of([value]) for name, value in {**lost, "loss_seconds": args.loss_seconds}.items()})
    warm = harness.run_child("vend", requests=1000)
    figures["vend_warm_per_s"] = Figure.of([warm["warm_requests_per_s"]])
    figures["vend_uncached_per_s"] = Figure.of([warm["uncached_requests_per_s"]])
    verdict = verdicts(figures)
    previous = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    if previous:
        PREVIOUS.write_text(json.dumps(previous, indent=1, sort_keys=True) + "\n")
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "repeat": args.repeat,
                "slices": args.slices,
                "figures": {n: f.as_json() for n, f in figures.items()},
                "verdicts": verdict,
            },
            indent=1,
            sort_keys=True,
        )
        + "\n"
    )
    print(table(figures, verdict, previous, args.repeat, args.slices))
    return 0 if MISSED not in verdict.values() else 1


if __name__ == "__main__":
    sys.exit(main())
