"""The HTML report in headless Chromium: loads offline with no console errors; tables and figures render."""

from __future__ import annotations

import io
import shutil

import numpy as np
import pytest
from PIL import Image
from test_bench_run import config, write_dataset

from negate_sdk.bench.report import build_report
from negate_sdk.bench.runner import run

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# No sandbox as root, and none of Chromium's background traffic: this machine's network is closed.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is installed by `make test`")


def test_report_renders_in_headless_chromium(tmp_path):
    playwright = pytest.importorskip("playwright.sync_api")
    dataset = write_dataset(tmp_path / "data")
    (path,) = run(config(dataset, tmp_path, perturb=["jpeg_q50", "blur_s2"]), tmp_path / "out")
    report = tmp_path / "out" / "report.html"
    report.write_text(build_report([path]))
    messages, requests = [], []
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.on("console", lambda m: messages.append(f"{m.type}: {m.text}"))
        page.on("pageerror", lambda e: messages.append(f"pageerror: {e}"))
        page.on("request", lambda r: requests.append(r.url))
        page.goto(report.as_uri(), wait_until="load")
        counts = page.evaluate(
            """() => ({
                leaderboard_rows: document.querySelectorAll('table.leaderboard tbody tr').length,
                group_rows: document.querySelectorAll('table.groups tbody tr').length,
                svgs: [...document.querySelectorAll('svg')].map(s => s.getBoundingClientRect().width),
                roc: [...document.querySelectorAll('polyline.roc')].map(l => l.getBBox().width),
                bars: [...document.querySelectorAll('rect.bar')].filter(r => r.getBBox().height > 0).length,
                reliability: document.querySelectorAll('polyline.reliability').length,
            })"""
        )
        png = page.screenshot(full_page=True)
        browser.close()
    assert messages == []
    assert [url for url in requests if not url.startswith("file://")] == []  # nothing fetched: works offline
    assert counts["leaderboard_rows"] == 3 and counts["group_rows"] >= 3 * 4
    assert len(counts["svgs"]) == 5 and min(counts["svgs"]) > 300  # ROC, reliability, generators, AUC, FPR
    assert len(counts["roc"]) == 3 and min(counts["roc"]) > 100
    assert counts["reliability"] == 3 and counts["bars"] >= 6
    pixels = np.asarray(Image.open(io.BytesIO(png)).convert("L"))
    assert pixels.std() > 10  # something was drawn, not a blank page
