"""A self-contained HTML report: leaderboard, ROC curves, per-generator detection rates with intervals,
reliability diagrams and robustness charts, drawn as inline SVG (no scripts, no CDN: works offline).
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from negate_sdk.bench.leaderboard import COLUMNS, html_table, leaderboard_rows, sort_rows
from negate_sdk.bench.results import read_predictions, read_results

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf")
WIDTH, HEIGHT, PAD = 420, 300, 44

CSS = """
body { font-family: system-ui, sans-serif; margin: 2rem; color: #222; max-width: 1400px; }
table { border-collapse: collapse; margin: 1rem 0; font-size: 0.85rem; }
th, td { border: 1px solid #ccc; padding: 0.3rem 0.5rem; text-align: right; }
th { background: #f3f3f3; } td:first-child, td:nth-child(2) { text-align: left; }
.figures { display: flex; flex-wrap: wrap; gap: 1.5rem; }
figure { margin: 0; } figcaption { font-size: 0.85rem; color: #555; max-width: 420px; }
svg text { font-size: 11px; fill: #333; }
.note { color: #555; font-size: 0.85rem; }
"""


def _sx(x: float) -> float:
    return PAD + x * (WIDTH - 1.5 * PAD)


def _sy(y: float) -> float:
    return HEIGHT - PAD - y * (HEIGHT - 1.5 * PAD)


def _axes(
    title: str, x_label: str, y_label: str, x_ticks: Sequence[tuple[float, str]] | None = None
) -> list[str]:
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" role="img" '
        f'aria-label="{html.escape(title)}">',
        f'<rect x="{PAD}" y="{PAD / 2}" width="{WIDTH - 1.5 * PAD}" height="{HEIGHT - 1.5 * PAD}" '
        'fill="none" stroke="#999"/>',
        f'<text x="{WIDTH / 2}" y="{HEIGHT - 6}" text-anchor="middle">{html.escape(x_label)}</text>',
        f'<text x="12" y="{HEIGHT / 2}" text-anchor="middle" transform="rotate(-90 12 {HEIGHT / 2})">'
        f"{html.escape(y_label)}</text>",
    ]
    for value in (0.0, 0.5, 1.0):
        parts.append(f'<text x="{PAD - 6}" y="{_sy(value) + 4}" text-anchor="end">{value:.1f}</text>')
    for position, label in x_ticks or [(v, f"{v:.1f}") for v in (0.0, 0.5, 1.0)]:
        parts.append(
            f'<text x="{_sx(position)}" y="{HEIGHT - PAD + 14}" text-anchor="middle">'
            f"{html.escape(label)}</text>"
        )
    return parts


def _legend(names: Sequence[str]) -> list[str]:
    parts = []
    for i, name in enumerate(names):
        y = PAD / 2 + 14 + 14 * i
        colour = PALETTE[i % len(PALETTE)]
        parts.append(f'<rect x="{WIDTH - 150}" y="{y - 8}" width="10" height="10" fill="{colour}"/>')
        parts.append(f'<text x="{WIDTH - 136}" y="{y + 1}">{html.escape(name[:22])}</text>')
    return parts


def _figure(svg: list[str], caption: str) -> str:
    return f"<figure>{''.join(svg)}</svg><figcaption>{html.escape(caption)}</figcaption></figure>"


def roc_figure(curves: dict[str, tuple[np.ndarray, np.ndarray]], title: str) -> str:
    """ROC curves (FPR → TPR) of several detectors."""
    svg = _axes(title, "false-positive rate (reals called synthetic)", "true-positive rate")
    svg.append(
        f'<line x1="{_sx(0)}" y1="{_sy(0)}" x2="{_sx(1)}" y2="{_sy(1)}" stroke="#bbb" stroke-dasharray="4"/>'
    )
    for i, (fpr, tpr) in enumerate(curves.values()):
        points = " ".join(f"{_sx(x):.1f},{_sy(y):.1f}" for x, y in zip(fpr, tpr))
        svg.append(
            f'<polyline class="roc" fill="none" stroke="{PALETTE[i % len(PALETTE)]}" stroke-width="2" '
            f'points="{points}"/>'
        )
    svg += _legend(list(curves))
    return _figure(svg, f"{title}: ROC curves on clean test images")


def bar_figure(
    groups: list[str], series: dict[str, list[tuple[float | None, list]]], title: str, y_label: str
) -> str:
    """Grouped bars with 95% interval whiskers: ``series[name][i] = (value, [lo, hi])`` for ``groups[i]``."""
    n_groups, n_series = max(len(groups), 1), max(len(series), 1)
    slot = 1.0 / n_groups
    width = slot * 0.8 / n_series
    ticks = [(slot * (i + 0.5), g[:14]) for i, g in enumerate(groups)]
    svg = _axes(title, "", y_label, ticks)
    for s, (name, values) in enumerate(series.items()):
        colour = PALETTE[s % len(PALETTE)]
        for i, (value, ci) in enumerate(values):
            if value is None:
                continue
            x0 = slot * i + slot * 0.1 + s * width
            svg.append(
                f'<rect class="bar" x="{_sx(x0):.1f}" y="{_sy(value):.1f}" '
                f'width="{_sx(x0 + width) - _sx(x0):.1f}" height="{_sy(0) - _sy(value):.1f}" '
                f'fill="{colour}" opacity="0.85"><title>{html.escape(name)} '
                f"{html.escape(groups[i])}: {value:.3f}</title></rect>"
            )
            if ci and ci[0] is not None:
                xc = _sx(x0 + width / 2)
                svg.append(
                    f'<line x1="{xc:.1f}" y1="{_sy(ci[0]):.1f}" x2="{xc:.1f}" y2="{_sy(ci[1]):.1f}" '
                    'stroke="#222"/>'
                )
    svg += _legend(list(series))
    return _figure(svg, title)


def reliability_figure(curves: dict[str, tuple[np.ndarray, np.ndarray]], title: str) -> str:
    """Reliability diagram: mean predicted P(synthetic) against the observed share, per bin."""
    svg = _axes(title, "mean predicted P(synthetic)", "observed share synthetic")
    svg.append(
        f'<line x1="{_sx(0)}" y1="{_sy(0)}" x2="{_sx(1)}" y2="{_sy(1)}" stroke="#bbb" stroke-dasharray="4"/>'
    )
    for i, (predicted, observed) in enumerate(curves.values()):
        colour = PALETTE[i % len(PALETTE)]
        points = " ".join(f"{_sx(x):.1f},{_sy(y):.1f}" for x, y in zip(predicted, observed))
        svg.append(
            f'<polyline class="reliability" fill="none" stroke="{colour}" stroke-width="2" '
            f'points="{points}"/>'
        )
        svg += [
            f'<circle cx="{_sx(x):.1f}" cy="{_sy(y):.1f}" r="3" fill="{colour}"/>'
            for x, y in zip(predicted, observed)
        ]
    svg += _legend(list(curves))
    return _figure(svg, f"{title}: reliability of calibrated scores (10 bins)")


def _roc_points(label: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.metrics import roc_curve

    if len(set(label)) < 2:
        return np.array([0.0, 1.0]), np.array([0.0, 1.0])
    fpr, tpr, _ = roc_curve(label, score)
    return fpr, tpr


def _reliability(label: np.ndarray, score: np.ndarray, bins: int = 10) -> tuple[np.ndarray, np.ndarray]:
    index = np.minimum((score * bins).astype(int), bins - 1)
    keep = [b for b in range(bins) if np.any(index == b)]
    return (
        np.array([score[index == b].mean() for b in keep]),
        np.array([label[index == b].mean() for b in keep]),
    )


def dataset_section(document: dict[str, Any], predictions: list[dict[str, Any]]) -> str:
    """Figures and tables of one results document."""
    dataset = document["dataset"]
    parts = [f"<h2>{html.escape(dataset['id'])}</h2>"]
    parts.append(
        f"<p class='note'>content hash {html.escape(dataset.get('content_hash', '')[:16])} · "
        f"{dataset.get('n_rows', '?')} rows · protocol {html.escape(document['protocol']['name'])}</p>"
    )
    for fold in sorted({r["fold"] for r in document["runs"]}):
        runs = [r for r in document["runs"] if r["fold"] == fold and r.get("metrics")]
        clean = [p for p in predictions if p["fold"] == fold and p["condition"] == "clean"]
        detectors = [r["detector"] for r in runs]
        curves, reliability = {}, {}
        for name in detectors:
            mine = [p for p in clean if p["detector"] == name]
            label = np.array([p["label"] for p in mine])
            score = np.array([p["score"] for p in mine])
            curves[name] = _roc_points(label, score)
            reliability[name] = _reliability(label, score)
        title = f"{dataset['id']} {fold}"
        figures = [roc_figure(curves, title), reliability_figure(reliability, title)]
        generators = sorted({g for r in runs for g in r["metrics"].get("per_generator", {})})
        if generators:
            series = {
                r["detector"]: [
                    (r["metrics"]["per_generator"].get(g, {}).get("tpr", {}).get("value"),
                     r["metrics"]["per_generator"].get(g, {}).get("tpr", {}).get("ci"))
                    for g in generators
                ]
                for r in runs
            }  # fmt: skip
            figures.append(bar_figure(generators, series, f"{title}: detection rate per generator", "TPR"))
        conditions = document["protocol"].get("conditions", ["clean"])
        if len(conditions) > 1:
            series = {
                r["detector"]: [
                    (r["metrics"]["per_condition"].get(c, {}).get("auc", {}).get("value"),
                     r["metrics"]["per_condition"].get(c, {}).get("auc", {}).get("ci"))
                    for c in conditions
                ]
                for r in runs
            }  # fmt: skip
            figures.append(bar_figure(conditions, series, f"{title}: robustness (AUC per condition)", "AUC"))
            fpr_series = {
                r["detector"]: [
                    (r["metrics"]["per_condition"].get(c, {}).get("fpr", {}).get("value"),
                     r["metrics"]["per_condition"].get(c, {}).get("fpr", {}).get("ci"))
                    for c in conditions
                ]
                for r in runs
            }  # fmt: skip
            figures.append(
                bar_figure(conditions, fpr_series, f"{title}: false-positive rate per condition", "FPR")
            )
        parts.append(f"<h3>{html.escape(fold)}</h3><div class='figures'>{''.join(figures)}</div>")
        parts.append(_source_table(runs))
    for entry in document.get("clip_bias", []):
        bias = entry.get("bias") or {}
        value = (
            "–"
            if not bias or bias.get("value") is None
            else f"{bias['value']:+.3f} [{bias['ci'][0]:+.3f}, {bias['ci'][1]:+.3f}]"
        )
        parts.append(
            f"<p>CLIP-bias delta ({html.escape(entry['clip_detector'])} vs "
            f"{html.escape(entry['other_detector'])}, "
            f"{html.escape(entry['fold'])}): {html.escape(value)}</p>"
        )
    return "".join(parts)


def _source_table(runs: list[dict[str, Any]]) -> str:
    rows = []
    for run in runs:
        for group, key in (("per_source", "source"), ("per_real_source", "real source")):
            for name, block in run["metrics"].get(group, {}).items():
                cells = [run["detector"], f"{key}: {name}", str(block["auc"]["n"])]
                for metric, _ in COLUMNS:
                    m = block.get(metric, {})
                    value, ci = m.get("value"), m.get("ci") or [None, None]
                    cells.append(
                        "–"
                        if value is None
                        else (f"{value:.3f}" + (f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci[0] is not None else ""))
                    )
                rows.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>")
    head = "".join(
        f"<th>{html.escape(h)}</th>" for h in ["detector", "group", "n"] + [label for _, label in COLUMNS]
    )
    return f"<table class='groups'><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def build_report(result_paths: Sequence[str | Path], sort_by: str = "auc") -> str:
    """The full HTML page for one or more ``results.json`` files (predictions read from beside them)."""
    documents = [read_results(p) for p in result_paths]
    rows = sort_rows(leaderboard_rows(documents), sort_by)
    sections = []
    for path, document in zip(result_paths, documents):
        predictions_path = Path(path).with_name("predictions.parquet")
        predictions = read_predictions(predictions_path) if predictions_path.exists() else []
        sections.append(dataset_section(document, predictions))
    provenance = documents[0]["provenance"] if documents else {}
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        "<title>negate-bench report</title>"
        f"<style>{CSS}</style></head><body>"
        "<h1>negate-bench report</h1>"
        f"<p class='note'>negate-sdk {html.escape(str(provenance.get('negate_sdk', '?')))} · git "
        f"{html.escape(str(provenance.get('git_sha') or 'n/a')[:12])} · seed {provenance.get('seed', '?')} · "
        "intervals are 95% bootstrap intervals; accuracy uses each detector's stored threshold, "
        "never one tuned on test labels.</p>"
        f"<h2>Leaderboard</h2>{html_table(rows)}{''.join(sections)}</body></html>"
    )
