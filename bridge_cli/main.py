"""`genesys-bridge`: query stored events, report coverage, list shards, verify against an emulator's ground truth.

Finds a deployment by its stack (``--stack``: the tables and shards from its outputs) or by table names; works
against AWS with the normal credential chain (``--profile``, ``--region``) and against the local stack
(``--endpoint-url`` or AWS_ENDPOINT_URL). Options go before or after the command.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import re
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, TextIO

from tqdm import tqdm

from bridge_cli.archive import (
    ArchiveSource,
    FolderSource,
    compare_table,
    orgs_of,
    public_key_of,
    signature_check,
    verify_org,
)
from bridge_cli.aws import CLI_ERRORS, BucketSource, Clients, clients, explain, secret_string, stack_outputs
from bridge_cli.files import written_whole
from bridge_cli.report import gather, write
from evidence.gap_table import GapTable
from evidence.gaps import judged_gaps
from evidence.queries import EventQueries
from evidence.records import read_envelope
from evidence.repair import ReconstructionStore, run_repairs
from evidence.store import EventStore
from genesys.analytics import from_token_secret
from genesys.errors import GenesysError
from genesys.http import new_http_client
from genesys.timefmt import iso_ms, parse_iso
from genesys.token_secret import token_secret_name
from stream_worker.aws import CoverageTable
from stream_worker.ledger import query_coverage
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
    """Events as a table (the listing), JSON lines or one JSON array (whole items, envelopes parsed)."""
    count = 0
    if fmt == "table":
        out.write(f"{'time (UTC)':<25} {'topic':<55} {'source':<12} {'channel':<30} key\n")
    elif fmt == "json":
        out.write("[")
    listed = itertools.islice(items, limit)
    for item in listed if fmt == "table" else queries.full(listed):  # the index lists; the table holds envelopes
        count += 1
        if fmt == "table":  # the event's own time where the listing has it, else when it was received
            when = _iso(item.get("event_ms", item["received_ms"]))
            source = str(item.get("source", "websocket"))
            repeat = f" (repeat {item['ordinal']} of {item['content_key'][:12]})" if "ordinal" in item else ""
            out.write(f"{when:<25} {item['topic']:<55} {source:<12} {item['channel_id']:<30} {item['pk']}{repeat}\n")
            continue
        record = {k: _json_value(k, v) for k, v in item.items() if not k.startswith("envelope")}
        record["envelope"] = (
            json.loads(read_envelope(item, store.fetch_payload))
            if item.get("kind") == "event"
            else read_envelope(item, store.fetch_payload)
        )
        line = json.dumps(record, default=str, sort_keys=True)
        out.write(line + "\n" if fmt == "jsonl" else ("," if count > 1 else "") + "\n" + line)
    if fmt == "json":
        out.write("\n]\n")
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
    return queries.by_window(args.since, args.until, progress=_progress("hours"))


def _progress(unit: str) -> Any:
    """Progress on stderr for long work (only where stderr is a terminal)."""
    return lambda steps: tqdm(list(steps), unit=unit, file=sys.stderr, disable=None, leave=False)


def _write_gaps(out: TextIO, what: str, gaps: list[tuple[float, float]], kinds: dict[float, str] | None = None) -> None:
    for start, end in gaps:
        kind = f": {kinds[start]}" if kinds and start in kinds else ""
        out.write(f"uncovered {_iso(start * 1000)} .. {_iso(end * 1000)} ({end - start:.3f} s){kind}\n")
    total = sum(end - start for start, end in gaps)
    out.write(f"{what}: {total:.3f} uncovered second(s) in {len(gaps)} interval(s)\n")


EXIT_CODES = """exit codes:
  0  done (coverage: no gap)
  1  an error: AWS refused or failed, a table or stack not found (one line on stderr says which, and the fix)
  2  usage: an unknown option or a bad value
  3  coverage, report: gaps found
  4  verify-archive: the archive does not verify (each failure is listed)
"""
OUTPUTS = ("table", "json", "jsonl")
SETTLE = 60.0  # seconds: the ledger trails by its write interval and the delivery allowance; later is not judged


def _common(parser: argparse.ArgumentParser, *, after_command: bool) -> None:
    """The options every command takes, before or after it (after it, only what is given overrides)."""

    def default(value: Any) -> Any:
        return argparse.SUPPRESS if after_command else value

    where = parser.add_argument_group("where")
    where.add_argument("--stack", default=default(None), help="a deployed stack: tables and shards from its outputs")
    where.add_argument("--region", default=default(None), help="AWS region (else AWS_REGION or the profile's)")
    where.add_argument("--profile", default=default(None), help="AWS named profile")
    where.add_argument("--endpoint-url", default=default(None), help="an AWS endpoint (a local stack)")
    where.add_argument("--events-table", default=default(os.environ.get("EVENTS_TABLE")))
    where.add_argument("--coverage-table", default=default(os.environ.get("COVERAGE_TABLE")))
    where.add_argument("-o", "--output", choices=OUTPUTS, default=default("table"), help="table, json or jsonl")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="genesys-bridge",
        description=__doc__,
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _common(parser, after_command=False)
    commands = parser.add_subparsers(dest="command", required=True)

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(
            name,
            help=help_text,
            description=help_text,
            epilog=EXIT_CODES,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        _common(sub, after_command=True)
        return sub

    events = command("events", "events by key, topic, entity, conversation or time window")
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
    events.add_argument("--format", choices=OUTPUTS, dest="output", default=argparse.SUPPRESS, help="same as -o")
    events.add_argument("--limit", type=int, default=None)
    events.add_argument("--out", type=Path, help="write to this file, whole or not at all (a temporary file, renamed)")

    coverage = command("coverage", "uncovered intervals of every shard (or --shard) in a time range")
    coverage.add_argument("--shard", action="append", dest="shards", help='a shard id such as "acme:0" (repeatable)')
    coverage.add_argument("--since", type=parse_time, default=parse_time("1h"))
    coverage.add_argument(
        "--until", type=parse_time, default=None, help=f"default: now less {SETTLE:.0f} s, what the ledger has settled"
    )
    coverage.add_argument("--by-task", action="store_true", help="also each task's own gaps (the fleet's are first)")

    command("shards", "the shards, with their org, group, topic count and first and last ledger time")

    report = command("report", "the audit report of a day: one HTML file that opens offline, and its JSON beside it")
    report.add_argument("--day", type=_day, help="a UTC day, e.g. 2026-12-02 (default: yesterday)")
    report.add_argument("--since", type=parse_time, help="instead of --day: the window's start")
    report.add_argument("--until", type=parse_time, help="instead of --day: the window's end")
    report.add_argument("--org", help="only this org's shards")
    report.add_argument("--out", type=Path, default=Path("report.html"), help="the HTML file (the JSON: same name)")

    sources = command("sources", "events per path (websocket, eventbridge) in a time window")
    sources.add_argument("--since", type=parse_time, default=parse_time("1h"))
    sources.add_argument("--until", type=parse_time, default=parse_time("now"))

    gaps = command("gaps", "the gap records: each uncovered interval per shard, its classification and repair status")
    gaps.add_argument("--since", type=parse_time, default=parse_time("7d"))
    gaps.add_argument("--until", type=parse_time, default=parse_time("now"))

    repair = command("repair", "repair one gap from Genesys REST now, due or not (uses the org's cached token)")
    repair.add_argument("--gap", required=True, metavar="ID", help="a gap id as `gaps` lists it (<shard>@<start ms>)")
    repair.add_argument("--token-secret", help="default: the stack's TokenSecret<Org> output, else the standard name")

    archive = command(
        "verify-archive", "check a day of the write-once archive: signatures, chain, objects, and the table both ways"
    )
    archive.add_argument("--day", type=_day, required=True, help="a UTC day, e.g. 2026-12-02")
    archive.add_argument("--org", help="only this org's chain (default: every org in the archive)")
    archive.add_argument(
        "--offline", type=Path, metavar="DIR", help="a downloaded copy (aws s3 sync s3://BUCKET DIR): no AWS access"
    )
    archive.add_argument("--public-key", type=Path, help="PEM file of the signing key (default: the archive's copy)")
    archive.add_argument("--archive-bucket", help="default: the stack's ArchiveBucket output")
    archive.add_argument("--payload-bucket", help="default: the stack's PayloadBucket output (oversized envelopes)")

    check = command("verify", "compare the table with an emulator's ground truth (local stack only)")
    check.add_argument("--emulator", required=True, help="emulator base URL, e.g. http://127.0.0.1:8123")
    check.add_argument("--topic", action="append", required=True, dest="topics")
    check.add_argument("--since", type=parse_time, required=True)
    check.add_argument("--until", type=parse_time, required=True)
    return parser


class Usage(Exception):
    """A command that cannot run as given: exit 2 with the message."""


class RepairFailed(Exception):
    """Genesys refused or failed the repair's requests: exit 1 with the reason (never the token)."""


def _where(args: argparse.Namespace) -> tuple[Clients, dict[str, Any]]:
    options = {"profile": args.profile, "region": args.region, "endpoint_url": args.endpoint_url}
    outputs = stack_outputs(args.stack, **options) if args.stack else {}
    args.events_table = args.events_table or outputs.get("EventsTable")
    args.coverage_table = args.coverage_table or outputs.get("CoverageTable")
    return clients(**options), outputs


def _table(args: argparse.Namespace, name: str) -> str:
    value: str | None = getattr(args, name)
    if not value:
        flag = "--" + name.replace("_", "-")
        raise Usage(f"which {name.replace('_', ' ')}? pass --stack NAME, or {flag} (or set {name.upper()})")
    return value


def main(argv: list[str] | None = None, out: TextIO = sys.stdout) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        aws, outputs = _where(args)
        return _run(args, aws, outputs, out)
    except Usage as exc:
        print(f"genesys-bridge: {exc}", file=sys.stderr)
        return 2
    except CLI_ERRORS as exc:
        print(f"genesys-bridge: {explain(exc)}", file=sys.stderr)
        return 1
    except RepairFailed as exc:
        print(f"genesys-bridge: repair failed: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("genesys-bridge: interrupted; nothing half-written was left", file=sys.stderr)
        return 130


def _run(args: argparse.Namespace, aws: Clients, outputs: dict[str, Any], out: TextIO) -> int:
    if args.command == "events":
        queries = EventQueries(aws.dynamodb, _table(args, "events_table"))
        store = EventStore(aws.dynamodb, aws.s3, _table(args, "events_table"), "")
        with _destination(args.out, out) as target:
            count = write_events(_events(args, queries), args.output, target, store, queries, args.limit)
        print(f"{count} item(s)", file=sys.stderr)
        return 0
    if args.command == "verify-archive":
        return _verify_archive(args, aws, outputs, out)
    if args.command in ("gaps", "repair"):
        recorded = GapTable(aws.dynamodb, _table(args, "coverage_table"))
        if args.command == "gaps":
            rows = [g.as_dict() for g in recorded.gaps(args.since, args.until)]
            _emit(
                [{**r, "rebuilt": _rebuilt(r["rebuilt"]), "reasons": "; ".join(r["reasons"])} for r in rows]
                if args.output == "table"
                else rows,
                args.output,
                out,
                rows,
            )
            return 0
        return _repair(args, aws, outputs, recorded, out)
    if args.command in ("coverage", "shards", "report"):
        table = CoverageTable(aws.dynamodb, _table(args, "coverage_table"))
        known = outputs.get("Shards") or {shard: {} for shard in table.shards()}
        if args.command == "shards":
            return _shards(table, known, args.output, out)
        if args.command == "report":
            return _report(args, table, known, aws, out)
        until = args.until if args.until is not None else time.time() - SETTLE
        events = EventQueries(aws.dynamodb, args.events_table) if args.events_table else None
        return _coverage(table, events, args.shards or sorted(known), args.since, until, args, out)
    queries = EventQueries(aws.dynamodb, _table(args, "events_table"))
    if args.command == "sources":
        counts = queries.by_source(args.since, args.until)
        rows = [{"source": source, "events": counts[source]} for source in sorted(counts)]
        rows.append({"source": "total", "events": sum(counts.values())})
        _emit(rows, args.output, out, {r["source"]: r["events"] for r in rows})
        return 0
    truth = fetch_ground_truth(args.emulator)
    stored = [i["pk"] for i in queries.by_window(args.since - 3600, args.until + 3600) if i.get("kind") == "event"]
    result = verify(truth, stored, set(args.topics), (args.since, args.until))
    figures = {k: v for k, v in vars(result).items() if k != "lost_events"}
    if args.output == "table":
        out.write("verified: " + " ".join(f"{k}={v}" for k, v in figures.items()) + "\n")
    else:
        _emit([figures], args.output, out, figures)
    return 0 if result.ok else 1


def _rebuilt(counts: dict[str, int]) -> str:
    return ", ".join(f"{kind}={n}" for kind, n in sorted(counts.items())) or "-"


def _repair(args: argparse.Namespace, aws: Clients, outputs: dict[str, Any], table: GapTable, out: TextIO) -> int:
    """The repair function's own logic, run here against the org's cached token."""
    gap = table.gap(args.gap)
    if gap is None:
        raise Usage(f"no gap {args.gap!r}: `genesys-bridge gaps` lists them")
    name = args.token_secret or outputs.get(f"TokenSecret{_camel(gap.org)}") or token_secret_name(gap.org)
    events = _table(args, "events_table")
    store = ReconstructionStore(EventStore(aws.dynamodb, aws.s3, events, outputs.get("PayloadBucket", "")))
    with new_http_client() as http:
        api = from_token_secret(secret_string(aws.secrets, name), http)
        try:
            (saved,) = run_repairs(table, lambda org: api, store, time.time, gap_id=gap.id)
        except GenesysError as exc:
            raise RepairFailed(str(exc)) from None
    row = saved.as_dict()
    _emit(
        [{**row, "rebuilt": _rebuilt(row["rebuilt"]), "reasons": "; ".join(row["reasons"])}]
        if args.output == "table"
        else [row],
        args.output,
        out,
        row,
    )
    return 0


def _camel(name: str) -> str:
    return "".join(part.title() for part in name.replace(".", "-").split("-"))


def _verify_archive(args: argparse.Namespace, aws: Clients, outputs: dict[str, Any], out: TextIO) -> int:
    """Offline: the folder and the public key alone. Online: the bucket, object versions, and the table."""
    source: ArchiveSource
    if args.offline is not None:
        if not args.offline.is_dir():
            raise Usage(f"--offline {args.offline}: not a folder")
        source = FolderSource(args.offline)
    else:
        bucket = args.archive_bucket or outputs.get("ArchiveBucket")
        if not bucket:
            raise Usage("which archive? pass --stack NAME, --archive-bucket NAME, or --offline DIR")
        source = BucketSource(aws.s3, bucket)
    try:
        verify_signature = signature_check(public_key_of(source, args.public_key))
    except (OSError, ValueError) as exc:
        raise Usage(str(exc)) from None
    orgs = [args.org] if args.org else orgs_of(source)
    results = [verify_org(source, org, args.day, verify_signature) for org in orgs]
    compared: int | None = None
    if args.offline is None and args.events_table:
        queries = EventQueries(aws.dynamodb, args.events_table)
        store = EventStore(
            aws.dynamodb, aws.s3, args.events_table, args.payload_bucket or outputs.get("PayloadBucket", "")
        )
        listed = [
            i
            for i in queries.by_window(args.day, args.day + 86_400)
            if i.get("kind", "event") in ("event", "quarantine")
        ]
        whole = list(queries.full(listed))
        compared = sum(
            compare_table(r, (i for i in whole if str(i.get("org", "")) == r.org), store.fetch_payload) for r in results
        )
    summary: dict[str, Any] = {
        "day": iso_ms(args.day)[:10],
        "mode": "offline" if args.offline is not None else "online",
        "table_compared": compared,
        "orgs": [r.as_dict() for r in results],
        "verified": bool(results) and all(not r.findings for r in results),
    }
    if args.output == "table":
        _archive_text(summary, out)
    else:
        findings = [{"org": o["org"], **f} for o in summary["orgs"] for f in o["findings"]]
        _emit(findings, args.output, out, summary)
    return 0 if summary["verified"] else 4


def _archive_text(summary: dict[str, Any], out: TextIO) -> None:
    compared = summary["table_compared"]
    table = "not compared (offline)" if compared is None else f"{compared} item(s) compared both ways"
    out.write(f"archive of {summary['day']} ({summary['mode']}); events table: {table}\n")
    if not summary["orgs"]:
        out.write("no org has manifests in this archive\n")
    for org in summary["orgs"]:
        out.write(
            f"org {org['org']}: manifests={org['manifests']} segments={org['segments']} records={org['records']} "
            f"events={org['events']} {'verified' if org['verified'] else 'NOT VERIFIED'}\n"
        )
        for shard, cover in sorted(org["signed_coverage"].items()):
            out.write(
                f"  signed coverage {shard}: {cover['windows']} window(s), {cover['covered_seconds']:.3f} s covered, "
                f"{len(cover['gaps'])} gap(s)\n"
            )
            for gap in cover["gaps"]:
                out.write(f"    gap {gap['start']} - {gap['end']} ({gap['seconds']:.3f} s): {gap['classification']}\n")
        for finding in org["findings"]:
            out.write(f"  FAIL [{finding['check']}] {finding['subject']}: {finding['detail']}\n")
    out.write(f"archive: {'verified' if summary['verified'] else 'NOT verified'}\n")


def _day(value: str) -> float:
    try:
        return parse_iso(f"{value}T00:00:00Z").timestamp()
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a day: {value!r} (YYYY-MM-DD)") from None


def _report(args: argparse.Namespace, table: CoverageTable, known: dict[str, Any], aws: Clients, out: TextIO) -> int:
    if args.since is not None or args.until is not None:
        start = args.since if args.since is not None else time.time() - 86_400
        end = args.until if args.until is not None else time.time() - SETTLE
    else:
        start = args.day if args.day is not None else (time.time() // 86_400 - 1) * 86_400
        end = start + 86_400
    shards = sorted(s for s in known if args.org is None or s.partition(":")[0] == args.org)
    if not shards:
        raise Usage(f"no shard{' of org ' + args.org if args.org else ''} to report on")
    queries = EventQueries(aws.dynamodb, _table(args, "events_table"))
    title = f"Genesys notification bridge: audit report{' for ' + args.org if args.org else ''}"
    records = GapTable(aws.dynamodb, _table(args, "coverage_table")).gaps(start, end)
    data = gather(table, queries, shards, start, end, title=title, records=records)
    json_path = write(data, args.out)
    verdict = data.figures()["conclusion"]
    out.write(f"{verdict['text']}\nreport: {args.out}\nfigures: {json_path}\n")
    return 0 if verdict["complete"] else 3


def _emit(rows: list[dict[str, Any]], output: str, out: TextIO, whole: Any) -> None:
    """Rows as an aligned table, one JSON document (``whole``), or JSON lines; numbers stay numbers."""
    if output == "json":
        out.write(json.dumps(whole, indent=2, sort_keys=True) + "\n")
    elif output == "jsonl":
        for row in rows:
            out.write(json.dumps(row, sort_keys=True) + "\n")
    elif rows:
        names = list(rows[0])
        widths = {n: max(len(n), *(len(str(r.get(n, ""))) for r in rows)) for n in names}
        out.write("  ".join(n.ljust(widths[n]) for n in names).rstrip() + "\n")
        for row in rows:
            out.write("  ".join(str(row.get(n, "")).ljust(widths[n]) for n in names).rstrip() + "\n")


def _shards(table: CoverageTable, known: dict[str, Any], output: str, out: TextIO) -> int:
    rows = []
    for shard in sorted(known):
        first, last = table.first_and_last(shard)
        about = known[shard]
        rows.append(
            {
                "shard": shard,
                "org": about.get("org", shard.partition(":")[0]),
                "group": about.get("group", ""),
                "topics": about.get("topics", ""),
                "first_ledger": _iso(first * 1000) if first is not None else "",
                "last_ledger": _iso(last * 1000) if last is not None else "",
            }
        )
    _emit(rows, output, out, rows)
    return 0


def _coverage(
    table: CoverageTable,
    queries: EventQueries | None,
    shards: list[str],
    since: float,
    until: float,
    args: argparse.Namespace,
    out: TextIO,
) -> int:
    """Every shard's fleet gaps, each classified (when the events table is known) by whether its org's EventBridge
    path stood in during it (evidence/gaps.py)."""
    fleets = {
        shard: query_coverage(table, shard, since, until)
        for shard in tqdm(shards, desc="shards", unit="shard", file=sys.stderr, disable=None, leave=False)
    }
    found = any(fleet.gaps for fleet in fleets.values())
    judged = judged_gaps(queries, fleets) if queries is not None and found else []
    kinds = {(g.shard, g.start): g.classification for g in judged}
    if args.output == "table":
        for shard, fleet in fleets.items():
            _write_gaps(
                out, f"shard {shard}", fleet.gaps, {s: kinds[(shard, s)] for s, _ in fleet.gaps if (shard, s) in kinds}
            )
            for task, gaps in sorted(fleet.by_task.items()) if args.by_task else ():
                _write_gaps(out, f"  task {task}", gaps)
        return 3 if found else 0
    report: list[dict[str, Any]] = []
    for shard, fleet in fleets.items():
        row: dict[str, Any] = {
            "shard": shard,
            "since": _iso(since * 1000),
            "until": _iso(until * 1000),
            "uncovered_seconds": round(fleet.uncovered_seconds, 3),
            "gaps": [
                {**_gap(start, end), **({"classification": kinds[(shard, start)]} if (shard, start) in kinds else {})}
                for start, end in fleet.gaps
            ],
        }
        if args.by_task:
            row["by_task"] = {task: [_gap(*g) for g in gaps] for task, gaps in sorted(fleet.by_task.items())}
        report.append(row)
    lines = [{"shard": r["shard"], **gap} for r in report for gap in r["gaps"]]
    _emit(lines, args.output, out, {"shards": report, "gaps_found": found})
    return 3 if found else 0


def _gap(start: float, end: float) -> dict[str, Any]:
    return {
        "start": _iso(start * 1000),
        "end": _iso(end * 1000),
        "seconds": round(end - start, 3),
        "start_s": start,
        "end_s": end,
    }


@contextlib.contextmanager
def _destination(path: Path | None, out: TextIO) -> Iterator[TextIO]:
    """``out``, or a file written whole or not at all: a temporary file beside it, renamed only once complete."""
    if path is None:
        yield out
        return
    with written_whole(path) as handle:
        yield handle


if __name__ == "__main__":
    sys.exit(main())
