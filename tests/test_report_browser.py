"""The HTML report in headless Chromium: loads offline with no console errors; tables and figures render,
and no two text labels of a figure overlap (bounding boxes from the DOM)."""

from __future__ import annotations

import io
import shutil

import numpy as np
import pytest
from PIL import Image
from test_bench_run import config, write_dataset

from negate_sdk.bench import report_figures as rf
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

# Per figure, its visible SVG text labels with the four page corners of each one's box (rotated with it)
TEXT_BOXES = """() => [...document.querySelectorAll('svg')].map(svg =>
    [...svg.querySelectorAll('text')].filter(t => t.getBBox().width > 0).map(t => {
        const b = t.getBBox(), m = t.getScreenCTM();
        const corner = (x, y) => { const p = new DOMPoint(x, y).matrixTransform(m); return [p.x, p.y]; };
        return {text: t.textContent, corners: [corner(b.x, b.y), corner(b.x + b.width, b.y),
                corner(b.x + b.width, b.y + b.height), corner(b.x, b.y + b.height)]};
    }))"""


def _separated(a: list, b: list, slack: float) -> bool:
    """Two convex quadrilaterals are apart (or overlap by at most ``slack`` px) along some edge normal."""
    for poly in (a, b):
        for (x0, y0), (x1, y1) in zip(poly, poly[1:] + poly[:1]):
            nx, ny = y0 - y1, x1 - x0
            norm = (nx * nx + ny * ny) ** 0.5 or 1.0
            pa = [(x * nx + y * ny) / norm for x, y in a]
            pb = [(x * nx + y * ny) / norm for x, y in b]
            if min(max(pa), max(pb)) - max(min(pa), min(pb)) <= slack:
                return True
    return False


def overlapping(labels: list[dict], slack: float = 0.5) -> list[tuple[str, str]]:
    """Pairs of labels whose boxes intersect by more than ``slack`` pixels (touching is fine)."""
    return [(a["text"], b["text"]) for i, a in enumerate(labels) for b in labels[i + 1 :]
            if not _separated(a["corners"], b["corners"], slack)]  # fmt: skip


def open_page(p, path):
    """A page on ``path`` with console messages and every request recorded."""
    browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    messages, requests = [], []
    page.on("console", lambda m: messages.append(f"{m.type}: {m.text}"))
    page.on("pageerror", lambda e: messages.append(f"pageerror: {e}"))
    page.on("request", lambda r: requests.append(r.url))
    page.goto(path.as_uri(), wait_until="load")
    return browser, page, messages, requests


def test_report_renders_in_headless_chromium(tmp_path):
    playwright = pytest.importorskip("playwright.sync_api")
    dataset = write_dataset(tmp_path / "data")
    (path,) = run(config(dataset, tmp_path, perturb=["jpeg_q50", "blur_s2"]), tmp_path / "out")
    report = tmp_path / "out" / "report.html"
    report.write_text(build_report([path]))
    with playwright.sync_playwright() as p:
        browser, page, messages, requests = open_page(p, report)
        counts = page.evaluate(
            """() => ({
                leaderboard_rows: document.querySelectorAll('table.leaderboard tbody tr').length,
                group_rows: document.querySelectorAll('table.groups tbody tr').length,
                generator_rows: document.querySelectorAll('table.generators tbody tr').length,
                real_source_rows: document.querySelectorAll('table.real-sources tbody tr').length,
                verdict_rows: document.querySelectorAll('table.verdicts tbody tr').length,
                threshold_rows: document.querySelectorAll('table.thresholds tbody tr').length,
                svgs: [...document.querySelectorAll('svg')].map(s => s.getBoundingClientRect().width),
                roc: [...document.querySelectorAll('g.roc path')].map(l => l.getBBox().width),
                bars: [...document.querySelectorAll('g.bar path')].filter(r => r.getBBox().height > 0).length,
                reliability: document.querySelectorAll('g.reliability > path').length,
                bin_counts: [...document.querySelectorAll('g.counts path')].filter(
                    r => r.getBBox().height > 0).length,
            })"""
        )
        boxes = page.evaluate(TEXT_BOXES)
        png = page.screenshot(full_page=True)
        browser.close()
    assert messages == []
    assert [url for url in requests if not url.startswith("file://")] == []  # nothing fetched: works offline
    assert counts["leaderboard_rows"] == 3 and counts["group_rows"] == 3 * 4
    assert counts["generator_rows"] == 2 and counts["real_source_rows"] == 2
    assert counts["verdict_rows"] == 3 * 2 and counts["threshold_rows"] == 3
    assert len(counts["svgs"]) == 5 and min(counts["svgs"]) > 300  # ROC, reliability, generators, AUC, FPR
    assert len(counts["roc"]) == 3 and min(counts["roc"]) > 100
    assert counts["reliability"] == 3 and counts["bars"] >= 6
    assert counts["bin_counts"] >= 3  # every detector's 28 clean images fall into some bin
    assert all(len(figure) >= 10 for figure in boxes)  # tick labels, axis labels, legend entries as text
    assert [overlapping(figure) for figure in boxes] == [[]] * 5
    pixels = np.asarray(Image.open(io.BytesIO(png)).convert("L"))
    assert pixels.std() > 10  # something was drawn, not a blank page


def test_crowded_figures_keep_their_labels_apart(tmp_path):
    """Many long group names and many detectors: tick labels and legend entries still do not overlap."""
    playwright = pytest.importorskip("playwright.sync_api")
    groups = [f"stable-diffusion-xl-refiner-{i}" for i in range(14)] + ["jpeg_q50", "blur_s2", "clean"]
    detectors = [f"pretrained_detector_{i}@calibrated" for i in range(6)]
    rng = np.random.default_rng(0)
    values = rng.uniform(0.2, 0.9, (len(detectors), len(groups)))
    series = {
        d: [(v, [v - 0.1, min(1.0, v + 0.1)]) for v in row.tolist()] for d, row in zip(detectors, values)
    }
    roc = {d: (np.linspace(0, 1, 20), np.sqrt(np.linspace(0, 1, 20))) for d in detectors}
    label, score = rng.integers(0, 2, 200), rng.uniform(0, 1, 200)
    reliability = {d: rf.reliability_points(label, score) for d in detectors}
    few = {d: values[-3:] for d, values in series.items()}
    svgs = [rf.bar_figure(groups, series, "a", "TPR"), rf.roc_figure(roc, "b"),
            rf.reliability_figure(reliability, "c"), rf.bar_figure(groups[-3:], few, "d", "AUC")]  # fmt: skip
    page_path = tmp_path / "figures.html"
    page_path.write_text("<!DOCTYPE html><html><body>" + "".join(svgs) + "</body></html>")
    with playwright.sync_playwright() as p:
        browser, page, messages, requests = open_page(p, page_path)
        boxes = page.evaluate(TEXT_BOXES)
        browser.close()
    assert messages == [] and [url for url in requests if not url.startswith("file://")] == []
    texts = [b["text"] for b in boxes[0]]
    assert "stable-diffusion-xl-refiner-13" in texts and "pretrained_detector_5@calibrated" in texts
    assert [overlapping(figure) for figure in boxes] == [[]] * 4


def test_the_overlap_check_sees_an_overlap():
    """The checker itself: labels drawn over each other are caught; touching or rotated apart are not."""

    def label(text, x0, y0, x1, y1):
        return {"text": text, "corners": [[x0, y0], [x1, y0], [x1, y1], [x0, y1]]}

    a = label("a", 0, 0, 10, 10)
    assert overlapping([a, label("b", 5, 5, 15, 15)]) == [("a", "b")]
    assert overlapping([a, label("c", 9.7, 0, 20, 10)]) == []

    # two long labels rotated 45°, side by side: their upright envelopes overlap, the labels do not
    def slanted(text, dx):
        return {"text": text, "corners": [[dx, 0], [dx + 100, -100], [dx + 107, -93], [dx + 7, 7]]}

    assert overlapping([slanted("d", 0), slanted("e", 20)]) == []
    assert overlapping([slanted("d", 0), slanted("f", 5)]) == [("d", "f")]
