"""`make bench`: every figure against a baseline measured in the same run, printed as one table and written to
``.bench/results.json``. The README's Benchmarks section says what each baseline is and why.

Each variant runs in its own process, so CPU and memory belong to it alone. CPU figures are the best of
``--repeat`` runs (noise on a shared machine only ever adds), and both sides of a ratio are treated alike.
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

CHILDREN: dict[str, str] = {
    "pipeline_bare": "tests.bench.pipeline:bare",
    "pipeline_worker": "tests.bench.pipeline:worker",
    "store_raw": "tests.bench.store:raw",
    "store_worker": "tests.bench.store:worker",
    "store_writer": "tests.bench.store:writer",
    "memory": "tests.bench.memory:steady_rss",
    "loss": "tests.bench.loss:loss",
    "vend": "tests.bench.vend:vend",
}
RESULTS = Path(".bench/results.json")
TARGETS = {  # figure: (limit, "max" or "min"): what the README promises
    "pipeline_us_per_event": (50.0, "max"),
    "e2e_cpu_ratio": (1.1, "max"),
    "writer_scale_ratio": (1.8, "min"),
    "rss_mb_steady": (100.0, "max"),
    "rss_slope_mb_per_min": (0.5, "max"),
    "bytes_ratio": (0.5, "max"),
    "worker_lost": (0, "max"),
}


def child(name: str, params: dict[str, Any]) -> dict[str, Any]:
    module, function = CHILDREN[name].split(":")
    result: dict[str, Any] = getattr(importlib.import_module(module), function)(**params)
    return result


def best(runs: list[dict[str, Any]], key: str, pick: Callable[..., Any] = min) -> float:
    return float(pick(r[key] for r in runs))


def pipeline(repeat: int, events: int) -> dict[str, float]:
    figures: dict[str, float] = {}
    for size, suffix in ((500, ""), (2000, "_2kb")):
        bare, worker = [], []
        for _ in range(repeat):  # interleaved, so drift on the machine touches both alike
            bare.append(harness.run_child("pipeline_bare", events=events, size=size))
            worker.append(harness.run_child("pipeline_worker", events=events, size=size))
        figures[f"pipeline_us_per_event{suffix}"] = best(worker, "cpu_us_per_event")
        figures[f"bare_us_per_event{suffix}"] = best(bare, "cpu_us_per_event")
    return figures


def store(repeat: int, events: int, threads: int) -> dict[str, float]:
    from tests.bench.responder import Responder

    raw: list[dict[str, Any]] = []
    worker: list[dict[str, Any]] = []
    one: list[dict[str, Any]] = []
    two: list[dict[str, Any]] = []
    with Responder() as responder:
        for _ in range(repeat):
            for runs, name, params in (
                (raw, "store_raw", {"puts": events, "threads": threads}),
                (worker, "store_worker", {"events": events, "threads": threads}),
                (one, "store_writer", {"events": events, "processes": 1, "threads": threads}),
                (two, "store_writer", {"events": events, "processes": 2, "threads": threads}),
            ):
                runs.append(harness.run_child(name, url=responder.url, **params))
                responder.reset()
    return {
        "raw_cpu_us_per_put": best(raw, "cpu_us_per_put"),
        "raw_puts_per_s": best(raw, "puts_per_s", max),
        "worker_cpu_us_per_stored": best(worker, "cpu_us_per_stored"),
        "worker_stored_per_s": best(worker, "stored_per_s", max),
        "e2e_cpu_ratio": best(worker, "cpu_us_per_stored") / best(raw, "cpu_us_per_put"),
        "e2e_stored_ratio": best(worker, "stored_per_s", max) / best(raw, "puts_per_s", max),
        "writer_1_process_per_s": best(one, "stored_per_s", max),
        "writer_2_processes_per_s": best(two, "stored_per_s", max),
        "writer_scale_ratio": best(two, "stored_per_s", max) / best(one, "stored_per_s", max),
        "write_threads": threads,
    }


def moto_reference(puts: int, threads: int) -> dict[str, float]:
    """The same raw puts against moto's server: what the store costs when the store is moto (reported apart)."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        result = harness.run_child(
            "store_raw", puts=puts, threads=threads, url=f"http://{host}:{port}", create_table=True
        )
    finally:
        server.stop()
    return {"moto_puts_per_s": result["puts_per_s"]}


def memory(minutes: float) -> dict[str, float]:
    from tests.bench.responder import Responder

    with Responder() as responder:
        result = harness.run_child("memory", minutes=minutes, rate=500, topics=3000, url=responder.url)
    return {
        "rss_mb_steady": result["rss_mb_steady"],
        "rss_mb_max": result["rss_mb_max"],
        "rss_slope_mb_per_min": result["rss_slope_mb_per_min"],
        "rss_stored_per_s": result["stored_per_s"],
        "rss_minutes": minutes,
    }


def costs(replicas: int) -> dict[str, float]:
    from tests.bench.cost import cost

    one = cost(duplicate_puts=0.0)
    deployed = cost(duplicate_puts=replicas - 1.0)  # each other task's put of the event fails its condition
    return {
        "envelope_bytes": one["envelope_bytes"],
        "writes_per_event": deployed["writes_per_event"],
        "writes_per_event_one_task": one["writes_per_event"],
        "write_units_per_event": deployed["write_units_per_event"],
        "bytes_stored_per_event": one["bytes_stored_per_event"],
        "bytes_stored_per_event_before": one["bytes_stored_per_event_all_projection"],
        "bytes_ratio": one["bytes_ratio"],
        "replicas": replicas,
    }


def met(results: dict[str, float]) -> dict[str, bool]:
    return {
        name: (results[name] <= limit if sense == "max" else results[name] >= limit)
        for name, (limit, sense) in TARGETS.items()
        if name in results
    }


def table(r: dict[str, Any]) -> str:
    rows = [
        ("pipeline CPU µs/event, 0.5 KB: worker vs bare receive", r, "pipeline_us_per_event", "bare_us_per_event"),
        (
            "pipeline CPU µs/event, 2 KB: worker vs bare receive",
            r,
            "pipeline_us_per_event_2kb",
            "bare_us_per_event_2kb",
        ),
        ("client CPU µs per stored event: worker vs raw put", r, "worker_cpu_us_per_stored", "raw_cpu_us_per_put"),
        ("stored events/s: worker vs raw puts (same threads)", r, "worker_stored_per_s", "raw_puts_per_s"),
        ("writer stored events/s: 2 processes vs 1", r, "writer_2_processes_per_s", "writer_1_process_per_s"),
    ]
    lines = ["| measure | figures | ratio | target |", "|---|---|---|---|"]
    ok = {name: r.get(f"met_{name}", False) for name in TARGETS}

    def mark(name: str) -> str:
        if name not in TARGETS:
            return ""
        limit, sense = TARGETS[name]
        return f"{'≤' if sense == 'max' else '≥'} {limit} {'met' if ok.get(name) else 'MISSED'}"

    for label, res, a, b in rows:
        if a in res and b in res:
            ratio = res[a] / res[b]
            target = {
                "worker_cpu_us_per_stored": mark("e2e_cpu_ratio"),
                "writer_2_processes_per_s": mark("writer_scale_ratio"),
                "pipeline_us_per_event": mark("pipeline_us_per_event"),
            }.get(a, "")
            lines.append(f"| {label} | {res[a]:.1f} vs {res[b]:.1f} | {ratio:.2f} | {target} |")
    if "moto_puts_per_s" in r:
        lines.append(f"| raw puts/s against moto's server (for reference) | {r['moto_puts_per_s']:.0f} | | |")
    if "rss_mb_steady" in r:
        lines.append(
            f"| RSS MB, {r['rss_minutes']:g} min at {r['rss_stored_per_s']:.0f} events/s, 3,000 topics: steady "
            f"(max), slope MB/min | {r['rss_mb_steady']:.1f} ({r['rss_mb_max']:.1f}), "
            f"{r['rss_slope_mb_per_min']:+.2f} | | {mark('rss_mb_steady')}; slope {mark('rss_slope_mb_per_min')} |"
        )
    if "bytes_stored_per_event" in r:
        lines.append(
            f"| DynamoDB per event ({r['envelope_bytes']:.0f} B envelopes): bytes stored, now vs three ALL "
            f"indexes | {r['bytes_stored_per_event']:.0f} vs {r['bytes_stored_per_event_before']:.0f} | "
            f"{r['bytes_ratio']:.2f} | {mark('bytes_ratio')} |"
        )
        lines.append(
            f"| write requests per event: one task, {r['replicas']:.0f} replicas (units) | "
            f"{r['writes_per_event_one_task']:.1f}, {r['writes_per_event']:.1f} ({r['write_units_per_event']:.2f}) "
            "| | |"
        )
    if "naive_lost" in r:
        lines.append(
            f"| events lost, {r['loss_seconds']:.0f} s of closes + 8 s tokens: naive vs worker | "
            f"{r['naive_lost']:.0f}/{r['naive_published']:.0f} vs {r['worker_lost']:.0f}/{r['worker_published']:.0f} "
            f"| | {mark('worker_lost')} |"
        )
    if "vend_warm_per_s" in r:
        lines.append(
            f"| vend requests/s: warm cache vs a secret read per request | {r['vend_warm_per_s']:.0f} vs "
            f"{r['vend_uncached_per_s']:.0f} | {r['vend_warm_per_s'] / r['vend_uncached_per_s']:.1f} | |"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--child", choices=sorted(CHILDREN))
    parser.add_argument("--params", default="{}")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--pipeline-events", type=int, default=20_000)
    parser.add_argument("--store-events", type=int, default=4_000)
    parser.add_argument("--write-threads", type=int, default=16)
    parser.add_argument("--rss-minutes", type=float, default=10.0)
    parser.add_argument("--loss-seconds", type=float, default=16.0)
    parser.add_argument("--replicas", type=int, default=2)
    args = parser.parse_args()
    harness.quiet()
    if args.child:
        print(json.dumps(child(args.child, json.loads(args.params))))
        return 0
    results: dict[str, Any] = {}
    results.update(pipeline(args.repeat, args.pipeline_events))
    results.update(store(max(1, args.repeat - 1), args.store_events, args.write_threads))
    results.update(moto_reference(500, args.write_threads))
    results.update(costs(args.replicas))
    lost = harness.run_child("loss", seconds=args.loss_seconds)
    results.update({**lost, "loss_seconds": args.loss_seconds})
    warm = harness.run_child("vend", requests=1000)
    results.update(
        {"vend_warm_per_s": warm["warm_requests_per_s"], "vend_uncached_per_s": warm["uncached_requests_per_s"]}
    )
    results.update(memory(args.rss_minutes))
    verdicts = met(results)
    results.update({f"met_{name}": verdict for name, verdict in verdicts.items()})  # flat: one value per key
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")
    print(table(results))
    return 0 if all(verdicts.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
