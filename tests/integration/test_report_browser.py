"""The audit report as an auditor sees it: a local-stack run with a gap, rendered by headless Chromium (Debian's
``chromium``, which .ci/run installs), offline."""

from __future__ import annotations

import json
import shutil
import time

import pytest

from bridge_cli import main as cli
from local_stack.waiting import eventually
from tests.support.bridge import finish, running_bridge, stores_more

pytestmark = pytest.mark.slow
CHROMIUM = shutil.which("chromium")
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (.ci/run installs it)")
async def test_the_report_of_a_run_with_a_gap_shows_its_conclusion_and_every_gap_offline(aws, make_emulator, tmp_path):
    """Given a run in which every socket was dropped while Genesys refused new channels (a real gap), the report
    opens in Chromium with nothing fetched from the network, its conclusion names the gap, and each gap row of the
    JSON is a visible row of the evidence table."""
    from playwright.async_api import async_playwright

    bridge = await running_bridge(make_emulator, tmp_path, {"token_lifetime": 60})
    bridge.fault("refuse_channel_creation", seconds=3, retry_after=0)
    bridge.fault("drop_socket")
    await eventually(lambda: bridge.worker.supervisors[0].live_count() == 0, 5, "every socket gone")
    await stores_more(bridge, 30, within=20)
    await finish(bridge, gaps_reported=True)
    start, end = bridge.window()
    page_path = tmp_path / "report.html"
    tables = ["--events-table", bridge.names.events_table, "--coverage-table", bridge.names.coverage_table]
    code = cli.main([*tables, "report", "--since", str(start), "--until", str(end), "--out", str(page_path)])
    assert code == 3  # gaps found
    figures = json.loads(page_path.with_suffix(".json").read_text())
    assert figures["gaps"] and not figures["conclusion"]["complete"]

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = await browser.new_page(viewport={"width": 1280, "height": 900})
        fetched: list[str] = []
        page.on("request", lambda request: fetched.append(request.url))
        await page.goto(page_path.as_uri())
        await page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
        conclusion = page.locator("#conclusion")
        assert await conclusion.is_visible()
        assert f"{len(figures['gaps'])} gap(s)" in await conclusion.inner_text()
        rows = page.locator("tr.gap")
        assert await rows.count() == len(figures["gaps"])
        for n, gap in enumerate(figures["gaps"]):
            row = rows.nth(n)
            assert await row.is_visible()
            assert gap["start"] in await row.inner_text()
        assert await page.locator("svg").count() >= 2  # the charts, inline
        await browser.close()
    assert fetched == [page_path.as_uri()]  # offline: the page itself, nothing else
    assert (tmp_path / "report.png").stat().st_size > 10_000
    assert time.time() >= end
