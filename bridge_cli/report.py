"""The audit report of a day (or any window): one self-contained HTML file an auditor opens offline, and a JSON file
with the same figures. Conclusion first, then the coverage timeline per shard, events per hour per path, what was
kept in quarantine, and the evidence table of every gap.

Charts are drawn by matplotlib as inline SVG: nothing is fetched when the page opens.
"""

from __future__ import annotations

import html
import io
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt

from bridge_cli.files import written_whole
from evidence.coverage import FleetCoverage
from evidence.gaps import COVERED_BY_EVENTBRIDGE, EVENTBRIDGE_SILENCE_S, UNCOVERED, Gap, GapRecord, judged_gaps
from evidence.queries import EventQueries
from genesys.timefmt import iso_ms
from stream_worker.aws import CoverageTable
from stream_worker.ledger import query_coverage


@dataclass
class ReportData:
    title: str
    start: float
    end: float
    coverage: dict[str, FleetCoverage]  # per shard
    gaps: list[Gap]
    by_hour: dict[str, Counter[str]]  # "YYYY-MM-DDTHH" -> source -> events
    quarantined: list[dict[str, Any]]  # reason, received_at, channel_id
    rejected: list[dict[str, Any]] = field(default_factory=list)  # org, topic, reason, missing_permissions
    records: list[GapRecord] = field(default_factory=list)  # the auditor's gap records, with their repair
    ground_truth: dict[str, Any] = field(default_factory=dict)  # a local run's verification, when there is one

    def repair_of(self, gap: Gap) -> dict[str, Any] | None:
        """What Genesys REST rebuilt of the gap (its record covers it), or None before the auditor recorded it."""
        for record in self.records:
            if record.shard == gap.shard and record.start <= gap.start + 0.001 and gap.end <= record.end + 0.001:
                return {
                    "gap_id": record.id,
                    "status": record.status,
                    "final": record.final,
                    "rebuilt": record.rebuilt or {},
                    "reasons": record.reasons or [],
                }
        return None

    def figures(self) -> dict[str, Any]:
        by_source: Counter[str] = Counter()
        for counts in self.by_hour.values():
            by_source.update(counts)
        gap_seconds = round(sum(g.seconds for g in self.gaps), 3)
        eventbridge_seconds = round(sum(g.seconds for g in self.gaps if g.classification == COVERED_BY_EVENTBRIDGE), 3)
        return {
            "title": self.title,
            "window": {"start": iso_ms(self.start), "end": iso_ms(self.end)},
            "conclusion": {
                "complete": not self.gaps,
                "gaps": len(self.gaps),
                "gap_seconds": gap_seconds,
                "covered_by_eventbridge_seconds": eventbridge_seconds,
                "text": conclusion(len(self.gaps), gap_seconds, eventbridge_seconds, len(self.coverage)),
            },
            "shards": {
                shard: {
                    "uncovered_seconds": round(fleet.uncovered_seconds, 3),
                    "tasks": {task: round(sum(b - a for a, b in gaps), 3) for task, gaps in fleet.by_task.items()},
                }
                for shard, fleet in sorted(self.coverage.items())
            },
            "gaps": [
                {
                    "shard": g.shard,
                    "start": iso_ms(g.start),
                    "end": iso_ms(g.end),
                    "seconds": g.seconds,
                    "classification": g.classification,
                    "eventbridge_events": g.eventbridge_events,
                    "eventbridge_longest_silence_seconds": g.eventbridge_silence,
                    "eventbridge_silence_limit_seconds": g.silence_limit,
                    "repair": self.repair_of(g),
                }
                for g in self.gaps
            ],
            "events": {
                "stored": sum(by_source.values()),
                "by_source": dict(sorted(by_source.items())),
                "by_hour": {hour: dict(sorted(c.items())) for hour, c in sorted(self.by_hour.items())},
            },
            "quarantined": self.quarantined,
            "rejected_topics": self.rejected,
            **({"ground_truth": self.ground_truth} if self.ground_truth else {}),
        }


def conclusion(gaps: int, seconds: float, eventbridge_seconds: float, shards: int) -> str:
    if not gaps:
        return f"Complete: every second of the window was covered on all {shards} shard(s)."
    told = f"{gaps} gap(s) totalling {seconds:.3f} s, of which {eventbridge_seconds:.3f} s covered by EventBridge."
    if eventbridge_seconds >= seconds:
        return f"{told} Events published in them were stored only if EventBridge carried them."
    return f"{told} Events published in the other {seconds - eventbridge_seconds:.3f} s may be missing."


def _svg(figure: Any) -> str:
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", bbox_inches="tight")
    plt.close(figure)
    text = buffer.getvalue()
    return text[text.index("<svg") :]  # inline: no XML prolog inside HTML


def timeline(data: ReportData) -> str:
    """Per shard: the fleet's coverage and each task's, with the gaps marked."""
    rows: list[tuple[str, list[tuple[float, float]], bool]] = []
    for shard, fleet in sorted(data.coverage.items()):
        rows.append((f"{shard} (fleet)", fleet.gaps, True))
        rows.extend((f"  {task}", gaps, False) for task, gaps in sorted(fleet.by_task.items()))
    figure, axes = plt.subplots(figsize=(10, 0.45 * len(rows) + 1.2))
    span = data.end - data.start
    unit, scale = ("seconds", 1.0) if span < 600 else ("minutes", 60.0) if span < 7200 else ("hours", 3600.0)
    for y, (_, gaps, fleet_row) in enumerate(reversed(rows)):
        axes.broken_barh([(0, span / scale)], (y - 0.35, 0.7), color="#3a7d44" if fleet_row else "#9cc9a5")
        if gaps:
            bars = [((a - data.start) / scale, (b - a) / scale) for a, b in gaps]
            axes.broken_barh(bars, (y - 0.35, 0.7), color="#c0392b")
    axes.set_yticks(range(len(rows)), [label for label, _, _ in reversed(rows)])
    axes.set_xlabel(f"{unit} after {iso_ms(data.start)}")
    axes.set_xlim(0, span / scale)
    axes.set_title("Coverage: green covered, red no socket of that task (fleet: of any task)")
    return _svg(figure)


def hourly(data: ReportData) -> str:
    hours = sorted(data.by_hour)
    sources = sorted({s for c in data.by_hour.values() for s in c})
    figure, axes = plt.subplots(figsize=(10, 3.2))
    bottom = [0] * len(hours)
    for source in sources:
        values = [data.by_hour[h].get(source, 0) for h in hours]
        axes.bar([h[-2:] + "h" for h in hours], values, bottom=bottom, label=source)
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    axes.set_ylabel("events stored")
    axes.set_title("Events per hour (UTC) by the path that stored them")
    if sources:
        axes.legend()
    return _svg(figure)


def render_html(data: ReportData) -> str:
    figures = data.figures()
    verdict = figures["conclusion"]
    esc = html.escape
    gap_rows = (
        "".join(
            f'<tr class="gap"><td>{esc(g["shard"])}</td><td>{esc(g["start"])}</td><td>{esc(g["end"])}</td>'
            f'<td class="num">{g["seconds"]:.3f}</td><td>{esc(g["classification"])}</td><td>{esc(repair_text(g))}</td></tr>'
            for g in figures["gaps"]
        )
        or '<tr><td colspan="6">No gap: no second of the window lacked a covering socket.</td></tr>'
    )
    quarantine_rows = (
        "".join(
            f"<tr><td>{esc(q['received_at'])}</td><td>{esc(q['channel_id'])}</td><td>{esc(q['reason'])}</td></tr>"
            for q in data.quarantined
        )
        or '<tr><td colspan="3">Nothing was kept in quarantine.</td></tr>'
    )
    rejected_rows = (
        "".join(
            f'<tr class="rejected"><td>{esc(r["org"])}</td><td>{esc(r["topic"])}</td><td>{esc(r["reason"])}</td>'
            f"<td>{esc(', '.join(r['missing_permissions']))}</td></tr>"
            for r in data.rejected
        )
        or '<tr><td colspan="4">Genesys refused no topic.</td></tr>'
    )
    events = figures["events"]
    truth = data.ground_truth
    truth_block = (
        "<h2>Verified against the emulator's ground truth (local stack)</h2><p>"
        + ", ".join(f"{esc(k)} = {v}" for k, v in truth.items())
        + "</p>"
        if truth
        else ""
    )
    state = "complete" if verdict["complete"] else "gaps"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{esc(data.title)}</title>
<style>
body {{ font-family: sans-serif; margin: 2em auto; max-width: 70em; color: #222; }}
#conclusion {{ padding: 1em; border-radius: 6px; font-size: 1.2em; }}
#conclusion.complete {{ background: #e3f3e6; }} #conclusion.gaps {{ background: #fbe4e1; }}
table {{ border-collapse: collapse; width: 100%; }} td, th {{ border: 1px solid #ccc; padding: 4px 8px; text-align: left; }}
.num {{ text-align: right; }} svg {{ max-width: 100%; height: auto; }}
</style></head><body>
<h1>{esc(data.title)}</h1>
<p>Window: {esc(figures["window"]["start"])} to {esc(figures["window"]["end"])} (UTC).</p>
<div id="conclusion" class="{state}">{esc(verdict["text"])}</div>
<h2>Evidence: every gap</h2>
<table id="gaps"><tr><th>shard</th><th>start (UTC)</th><th>end (UTC)</th><th>seconds</th><th>classification</th>
<th>repair from Genesys REST</th></tr>
{gap_rows}</table>
<p>A gap is a span in which no task of the fleet had a socket it could prove was receiving. "{COVERED_BY_EVENTBRIDGE}":
the shard's own org's EventBridge path stored events that happened in that span (by their own time) and was never
silent within it for longer than the table's traffic before the gap explains (14 / events per second: a one in a
million silence; at most {EVENTBRIDGE_SILENCE_S // 60} minutes, the EventBridgeSilent alarm's limit). EventBridge keeps no ledger, so
this says the backstop was working, not that it carried every event; any other gap is "{UNCOVERED}". An uncovered gap is
repaired from Genesys' REST APIs where they can rebuild what it hid: the reconstructions are kept apart from the
events (kind "reconstruction", source "rest") and never counted as notifications.</p>
<h2>Coverage per shard</h2>{timeline(data)}
<h2>Events</h2><p>{events["stored"]} events stored in the window, by the path that stored each first:
{", ".join(f"{esc(k)}: {v}" for k, v in events["by_source"].items()) or "none"}. A notification whose content repeats
an earlier one's is an item of its own and counted here; copies of one notification are one item.</p>
{hourly(data)}
<h2>Kept in quarantine</h2>
<table id="quarantine"><tr><th>received (UTC)</th><th>channel</th><th>reason</th></tr>{quarantine_rows}</table>
<h2>Topics Genesys refused (never streamed)</h2>
<table id="rejected"><tr><th>org</th><th>topic</th><th>reason</th><th>missing permissions</th></tr>{rejected_rows}</table>
{truth_block}
</body></html>
"""


def repair_text(gap: dict[str, Any]) -> str:
    repair = gap.get("repair")
    if repair is None:
        return "not recorded yet (the auditor records a gap once its window settles)"
    rebuilt = ", ".join(f"{kind}: {n}" for kind, n in sorted(repair["rebuilt"].items()))
    text = f"{repair['status']}{' (final)' if repair['final'] else ''}"
    text += f"; rebuilt {rebuilt}" if rebuilt else ""
    return text + ("; " + "; ".join(repair["reasons"]) if repair["reasons"] else "")


def write(data: ReportData, html_path: Path) -> Path:
    """The HTML file and, beside it, the JSON (same name, .json); each written whole or not at all."""
    json_path = html_path.with_suffix(".json")
    for path, text in ((html_path, render_html(data)), (json_path, json.dumps(data.figures(), indent=2) + "\n")):
        with written_whole(path) as handle:
            handle.write(text)
    return json_path


def gather(
    table: CoverageTable,
    queries: EventQueries,
    shards: list[str],
    start: float,
    end: float,
    *,
    title: str,
    ground_truth: dict[str, Any] | None = None,
    records: list[GapRecord] | None = None,
) -> ReportData:
    """The figures of [start, end] from the ledger and the time index (no scan); quarantined frames read whole."""
    coverage = {shard: query_coverage(table, shard, start, end) for shard in shards}
    listed = list(queries.by_window(start, end))
    by_hour: dict[str, Counter[str]] = {}
    quarantined = []
    for item in listed:
        received = int(item["received_ms"]) / 1000
        kind = item.get("kind", "event")
        if kind == "quarantine":
            quarantined.append(item)
        if kind != "event":  # reconstructions are listed with their gap, never counted as events
            continue
        source = str(item.get("source", "websocket"))
        by_hour.setdefault(iso_ms(received)[:13], Counter())[source] += 1
    gaps = judged_gaps(queries, coverage, listed)
    kept = [
        {
            "received_at": iso_ms(int(i["received_ms"]) / 1000),
            "channel_id": str(i.get("channel_id", "")),
            "reason": str(i.get("reason", "")),
        }
        for i in queries.full(quarantined)
    ]
    orgs = sorted({shard.partition(":")[0] for shard in shards})
    rejected = [{"org": org, **r, "rejected_at": iso_ms(r["rejected_at"])} for org in orgs for r in table.rejected(org)]
    return ReportData(
        title,
        start,
        end,
        coverage,
        gaps,
        by_hour,
        kept,
        rejected,
        records=records or [],
        ground_truth=ground_truth or {},
    )
