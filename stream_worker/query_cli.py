"""`genesys-bridge`: query stored events, report coverage, verify against an emulator's ground truth.

Works against AWS with the normal credential chain and against the local stack (AWS_ENDPOINT_URL).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import re
import sys
import time
from collections.abc import Iterable, Iterator
from typing import Any, TextIO

from evidence.records import read_envelope
from evidence.store import EventStore
from genesys.timefmt import iso_ms, parse_iso
from stream_worker.aws import AWS_ERRORS, CoverageTable, dynamodb_client, s3_client
from stream_worker.ledger import query_coverage
from stream_worker.queries import EventQueries
from stream_worker.verify import fetch_ground_truth, verify

_RELATIVE = re.compile(r"^(\d+(?:\.\d+)?)([smhd])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86_400}


def parse_time(value: str, now: float | None = None) -> float:
    """ISO-8601 (``2026-11-28T10:00:00Z``), epoch seconds, ``now``, or an age such as ``90m`` / ``2h`` / ``7d``."""
    now = time.time() if now is None else now
    if value == "now":
        return now
    relative = _RELATIVE.match(value)
    if relative:
        return now - float(relative.group(1)) * _UNITS[relative.group(2)]
    try:
        return float(value)
    except ValueError:
        pass
    try:
        return parse_iso(value).timestamp()
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not a time: {value!r} (ISO-8601, epoch seconds, now, or 30m/2h/7d)"
        ) from None


def _json_value(name: str, value: Any) -> Any:
    """Numbers stay numbers, sets (the per-path arrivals) become sorted lists."""
    if name in ("received_ms", "event_ms", "ordinal", "expires_at", "key_version"):
        return int(value)
    return sorted(value) if isinstance(value, set) else value


def _iso(ms: Any) -> str:
    return iso_ms(int(ms) / 1000)


def write_events(
    items: Iterable[dict[str, Any]], fmt: str, out: TextIO, store: EventStore, queries: EventQueries, limit: int | None
) -> int:
    count = 0
    if fmt == "table":
        out.write(f"{'time (UTC)':<25} {'topic':<55} {'source':<12} {'channel':<30} key\n")
    listed = itertools.islice(items, limit)
    for item in listed if fmt == "table" else queries.full(listed):  # the index lists; the table holds envelopes
        count += 1
        if fmt == "table":  # the event's own time where the listing has it, else when it was received
            when = _iso(item.get("event_ms", item["received_ms"]))
            source = str(item.get("source", "websocket"))
            key = f"{item['pk']}" + (
                f" (repeat {item['ordinal']} of {item['content_key'][:12]})" if "ordinal" in item else ""
            )
            out.write(f"{when:<25} {item['topic']:<55} {source:<12} {item['channel_id']:<30} {key}\n")
            continue
        record = {k: _json_value(k, v) for k, v in item.items() if not k.startswith("envelope")}
        record["envelope"] = (
            json.loads(read_envelope(item, store.fetch_payload))
            if item.get("kind") == "event"
            else read_envelope(item, store.fetch_payload)
        )
        out.write(json.dumps(record, default=str, sort_keys=True) + "\n")
    return count


def _events(args: argparse.Namespace, queries: EventQueries) -> Iterator[dict[str, Any]]:
    if args.key:
        found = queries.by_key(args.key)
        return iter([found] if found else [])
    if args.topic:
        return queries.by_topic(args.topic, args.since, args.until)
    if args.conversation:
        return iter(queries.record_of(queries.by_conversation(args.conversation, args.since, args.until)))
    if args.user or args.queue:
        kind, entity_id = ("user", args.user) if args.user else ("queue", args.queue)
        return iter(queries.record_of(queries.by_entity(kind, entity_id, args.since, args.until)))
    if args.entity:
        kind, _, entity_id = args.entity.partition(":")
        if kind not in ("user", "queue", "conversation", "audit") or not entity_id:
            raise SystemExit("--entity must be user:ID, queue:ID, conversation:ID or audit:TYPE/ID")
        return queries.by_entity(kind, entity_id, args.since, args.until)
    return queries.by_window(args.since, args.until)


def _write_gaps(out: TextIO, what: str, gaps: list[tuple[float, float]]) -> None:
    for start, end in gaps:
        out.write(f"uncovered {_iso(start * 1000)} .. {_iso(end * 1000)} ({end - start:.3f} s)\n")
    total = sum(end - start for start, end in gaps)
    out.write(f"{what}: {total:.3f} uncovered second(s) in {len(gaps)} interval(s)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="genesys-bridge", description=__doc__)
    parser.add_argument("--events-table", default=os.environ.get("EVENTS_TABLE", "genesys-events"))
    parser.add_argument("--coverage-table", default=os.environ.get("COVERAGE_TABLE", "genesys-coverage"))
    commands = parser.add_subparsers(dest="command", required=True)

    events = commands.add_parser("events", help="events by key, topic, entity or time window")
    which = events.add_mutually_exclusive_group()
    which.add_argument("--key", help="one event by its event key")
    which.add_argument("--topic", help="a full topic name")
    which.add_argument("--entity", help="user:ID, queue:ID, conversation:ID or audit:TYPE/ID (by topic)")
    which.add_argument(
        "--conversation", metavar="ID", help="every event about a conversation, by topic or body, in event-time order"
    )
    which.add_argument("--user", metavar="ID", help="every event of a user's topics, in event-time order")
    which.add_argument("--queue", metavar="ID", help="every event of a queue's topics, in event-time order")
    events.add_argument("--since", type=parse_time, default=parse_time("1h"))
    events.add_argument("--until", type=parse_time, default=parse_time("now"))
    events.add_argument("--format", choices=("table", "jsonl"), default="table")
    events.add_argument("--limit", type=int, default=None)

    coverage = commands.add_parser("coverage", help="uncovered intervals of a shard in a time range")
    coverage.add_argument("--shard", required=True, help='shard id such as "acme:0"')
    coverage.add_argument("--since", type=parse_time, default=parse_time("1h"))
    coverage.add_argument("--until", type=parse_time, default=parse_time("now"))
    coverage.add_argument("--by-task", action="store_true", help="also each task's own gaps (the fleet's are first)")

    sources = commands.add_parser("sources", help="events per path (websocket, eventbridge) in a time window")
    sources.add_argument("--since", type=parse_time, default=parse_time("1h"))
    sources.add_argument("--until", type=parse_time, default=parse_time("now"))

    check = commands.add_parser("verify", help="compare the table with an emulator's ground truth")
    check.add_argument("--emulator", required=True, help="emulator base URL, e.g. http://127.0.0.1:8123")
    check.add_argument("--topic", action="append", required=True, dest="topics")
    check.add_argument("--since", type=parse_time, required=True)
    check.add_argument("--until", type=parse_time, required=True)
    return parser


def main(argv: list[str] | None = None, out: TextIO = sys.stdout) -> int:
    args = build_parser().parse_args(argv)
    dynamodb = dynamodb_client()
    queries = EventQueries(dynamodb, args.events_table)
    try:
        if args.command == "events":
            store = EventStore(dynamodb, s3_client(), args.events_table, "")
            count = write_events(_events(args, queries), args.format, out, store, queries, args.limit)
            print(f"{count} item(s)", file=sys.stderr)
            return 0
        if args.command == "coverage":
            fleet = query_coverage(CoverageTable(dynamodb, args.coverage_table), args.shard, args.since, args.until)
            _write_gaps(out, f"shard {args.shard}", fleet.gaps)
            if args.by_task:
                for task, gaps in sorted(fleet.by_task.items()):
                    _write_gaps(out, f"  task {task}", gaps)
            return 0 if not fleet.gaps else 3
        if args.command == "sources":
            counts = queries.by_source(args.since, args.until)
            out.write(f"{'source':<12} events\n")
            for source in sorted(counts):
                out.write(f"{source:<12} {counts[source]}\n")
            out.write(f"{'total':<12} {sum(counts.values())}\n")
            return 0
        truth = fetch_ground_truth(args.emulator)
        stored = [i["pk"] for i in queries.by_window(args.since - 3600, args.until + 3600) if i.get("kind") == "event"]
        result = verify(truth, stored, set(args.topics), (args.since, args.until))
        out.write(
            f"verified: published={result.published} stored={result.stored} lost={result.lost} "
            f"duplicates={result.duplicates} extra={result.extra}\n"
        )
        return 0 if result.ok else 1
    except AWS_ERRORS as exc:
        print(f"genesys-bridge: AWS call failed: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
