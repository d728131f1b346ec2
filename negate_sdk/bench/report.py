"""A self-contained HTML report of one or more runs: the leaderboard, then per dataset and fold the figures
(ROC, reliability with bin counts, detection rate per generator, robustness) drawn with matplotlib as
inline SVG, and the tables researchers look for: per generator (n, TPR with interval, release date, uses
CLIP), per real source (FPR), the verdict breakdown per class, the thresholds and where they came from,
small-n warnings, the CLIP-bias deltas and the detectors that failed. No scripts, fonts or URLs: one file
that works offline.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from negate_sdk.bench.leaderboard import COLUMNS, html_table, leaderboard_rows, sort_rows
from negate_sdk.bench.metrics import MIN_GROUP_N
from negate_sdk.bench.results import read_predictions, read_results

CSS = """
body { font-family: system-ui, sans-serif; margin: 2rem; color: #222; max-width: 1400px; }
table { border-collapse: collapse; margin: 1rem 0; font-size: 0.85rem; }
th, td { border: 1px solid #ccc; padding: 0.3rem 0.5rem; text-align: right; }
th { background: #f3f3f3; } td:first-child, td:nth-child(2) { text-align: left; }
td.small { color: #777; font-style: italic; }
.figures { display: flex; flex-wrap: wrap; gap: 1.5rem; align-items: flex-start; }
figure { margin: 0; } figcaption { font-size: 0.85rem; color: #555; max-width: 560px; }
.note { color: #555; font-size: 0.85rem; } .warning { color: #8a5300; font-size: 0.85rem; }
"""


def _fmt(metric: dict[str, Any] | None, signed: bool = False) -> str:
    """``value [lo, hi]`` of a metric block (``–`` when undefined)."""
    if not metric or metric.get("value") is None:
        return "–"
    spec = "+.3f" if signed else ".3f"
    ci = metric.get("ci") or [None, None]
    text = format(metric["value"], spec)
    return text + (f" [{ci[0]:{spec}}, {ci[1]:{spec}}]" if ci[0] is not None else "")


def _n(metric: dict[str, Any] | None) -> str:
    """The count of a metric, marked ``(small)`` under :data:`MIN_GROUP_N` as in the leaderboard."""
    if not metric:
        return "–"
    n = metric.get("n", 0)
    return f"{n} (small)" if metric.get("small_n", n < MIN_GROUP_N) else str(n)


def _table(css: str, head: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """An escaped table; a cell given as ``(text, "small")`` gets that class."""
    cells = []
    for row in rows:
        tds = []
        for cell in row:
            text, cls = cell if isinstance(cell, tuple) else (cell, "")
            tds.append(
                f"<td class='{cls}'>{html.escape(str(text))}</td>"
                if cls
                else f"<td>{html.escape(str(text))}</td>"
            )
        cells.append("<tr>" + "".join(tds) + "</tr>")
    heads = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    return f"<table class='{css}'><thead><tr>{heads}</tr></thead><tbody>{''.join(cells)}</tbody></table>"


def _rate_cell(metric: dict[str, Any] | None) -> Any:
    text = _fmt(metric)
    return (text, "small") if metric and metric.get("small_n") else text


def _generator_info(generator: str, predictions: list[dict[str, Any]]) -> tuple[str, str]:
    """``(release date, uses CLIP)``: uses_clip as the predictions recorded it, else the generator table."""
    flags = {p["uses_clip"] for p in predictions if p["label"] == 1 and p["generator"] == generator}
    try:
        from negate_sdk.manifests.generators import get_generator

        info = get_generator(generator)
        release, table_flag = info.release_date or "–", info.uses_clip
    except Exception:  # no generator table here: the report still renders
        release, table_flag = "–", "unknown"
    return release, ", ".join(sorted(flags)) if flags else table_flag


def generator_table(runs: list[dict[str, Any]], predictions: list[dict[str, Any]]) -> str:
    """Per generator: release date, uses CLIP, n synthetic images, and each detector's TPR with interval."""
    generators = sorted({g for r in runs for g in r["metrics"].get("per_generator", {})})
    rows = []
    for g in generators:
        blocks = [r["metrics"]["per_generator"].get(g, {}).get("tpr") for r in runs]
        release, clip = _generator_info(g, predictions)
        n = max((b for b in blocks if b), key=lambda b: b.get("n", 0), default=None)
        rows.append([g, release, clip, _n(n), *(_rate_cell(b) for b in blocks)])
    head = ["generator", "released", "uses CLIP", "n synthetic", *(f"TPR {r['detector']}" for r in runs)]
    return _table("generators", head, rows)


def real_source_table(runs: list[dict[str, Any]]) -> str:
    """Per real source: n real images and each detector's false-positive rate with interval."""
    sources = sorted({s for r in runs for s in r["metrics"].get("per_real_source", {})})
    rows = []
    for s in sources:
        blocks = [r["metrics"]["per_real_source"].get(s, {}).get("fpr") for r in runs]
        n = max((b for b in blocks if b), key=lambda b: b.get("n", 0), default=None)
        rows.append([s, _n(n), *(_rate_cell(b) for b in blocks)])
    return _table("real-sources", ["real source", "n real", *(f"FPR {r['detector']}" for r in runs)], rows)


def verdict_table(runs: list[dict[str, Any]]) -> str:
    """What a user sees, per detector and class: GENUINE / UNCERTAIN / SYNTHETIC counts and shares (clean)."""
    rows = []
    for run in runs:
        overall = run["metrics"].get("overall", {})
        for cls, suffix in (("real", "real"), ("synthetic", "fake")):
            synthetic = overall.get(f"synthetic_share_{suffix}") or {}
            uncertain = overall.get(f"uncertain_share_{suffix}") or {}
            novel = overall.get(f"novel_share_{suffix}") or {}
            n = synthetic.get("n", 0)
            counts = [round((m.get("value") or 0.0) * n) for m in (synthetic, uncertain, novel)]
            shares = {"GENUINE": n - counts[0] - counts[1], "UNCERTAIN": counts[1], "SYNTHETIC": counts[0]}
            cells = [f"{k} ({k / n:.0%})" if n else "–" for k in shares.values()]
            rows.append([run["detector"], cls, _n(synthetic), *cells, f"{counts[2]}" if n else "–"])
    head = ["detector", "class", "n", "GENUINE", "UNCERTAIN", "SYNTHETIC", "of which unlike training"]
    return _table("verdicts", head, rows)


def threshold_source(run: dict[str, Any]) -> str:
    """Where a detector's thresholds came from, in words (never from the test labels)."""
    point = run.get("operating_point")
    validation = run.get("validation_metrics") or {}
    n = f", n = {validation['n']}" if "n" in validation else ""
    if point == "authors":
        return "the authors' operating point (published weights, not calibrated here)"
    if point == "calibrated":
        return f"calibrated on a validation split of {', '.join(run.get('calibrated_on', [])) or '?'}{n}"
    if validation:
        return (
            f"chosen on a validation split of the training data ({', '.join(run.get('trained_on', []))}){n}"
        )
    return "defaults (no validation data)"


def threshold_table(runs: list[dict[str, Any]]) -> str:
    """The thresholds each detector used: GENUINE below, SYNTHETIC from, the binary decision, and origin."""
    rows = []
    for run in runs:
        t = run.get("thresholds") or {}
        cells = [f"{t[k]:.3f}" if k in t else "–" for k in ("t_genuine", "t_synthetic", "t_decision")]
        rows.append([run["detector"], *cells, threshold_source(run)])
    return _table("thresholds", ["detector", "GENUINE below", "SYNTHETIC from", "decision", "chosen"], rows)


def small_n_warning(runs: list[dict[str, Any]]) -> str:
    """A warning naming the groups measured on fewer than :data:`MIN_GROUP_N` images (once per group)."""
    groups: dict[str, int] = {}
    for run in runs:
        for entry in run.get("small_groups", []):
            groups[entry["group"]] = max(groups.get(entry["group"], 0), entry["n"])
    if not groups:
        return ""
    listed = ", ".join(f"{g} (n = {n})" for g, n in groups.items())
    return (f"<p class='warning small-n'>Small groups, under {MIN_GROUP_N} images: intervals too wide to "
            f"rank detectors by: {html.escape(listed)}.</p>")  # fmt: skip


def clip_bias_table(entries: list[dict[str, Any]]) -> str:
    """CLIP-bias deltas (accuracy of the CLIP detector minus the other's), with paired-bootstrap intervals."""
    rows = []
    for e in entries:
        groups = e.get("per_group", {})
        per_gen = "; ".join(f"{g} ({d.get('uses_clip', '?')}): {_fmt(d, signed=True)}"
                            for g, d in e.get("per_generator", {}).items())  # fmt: skip
        rows.append([e["clip_detector"], e["other_detector"], e["fold"],
                     *(_fmt(groups.get(k), signed=True) for k in ("yes", "no", "unknown")),
                     _fmt(e.get("bias"), signed=True), per_gen])  # fmt: skip
    head = ["CLIP detector", "other detector", "fold", "Δ CLIP generators", "Δ non-CLIP generators",
            "Δ unknown", "bias (CLIP − non-CLIP)", "Δ per generator"]  # fmt: skip
    return _table("clip-bias", head, rows)


def failed_table(failed: list[dict[str, Any]]) -> str:
    """The detectors that could not finish a fold: stage (build / fit / score) and one-line reason."""
    rows = [
        [f.get("detector", "?"), f.get("fold", "?"), f.get("stage", "?"), f.get("reason", "")] for f in failed
    ]
    return _table("failed", ["detector", "fold", "stage", "reason"], rows)


def _source_table(runs: list[dict[str, Any]]) -> str:
    rows = []
    for run in runs:
        for group, key in (("per_source", "source"), ("per_real_source", "real source")):
            for name, block in run["metrics"].get(group, {}).items():
                rows.append([run["detector"], f"{key}: {name}", _n(block.get("auc")),
                             *(_fmt(block.get(metric)) for metric, _ in COLUMNS)])  # fmt: skip
    return _table("groups", ["detector", "group", "n", *(label for _, label in COLUMNS)], rows)


def _series(runs: list[dict[str, Any]], section: str, groups: list[str], metric: str) -> dict[str, list]:
    out = {}
    for run in runs:
        blocks = [run["metrics"].get(section, {}).get(g, {}).get(metric, {}) for g in groups]
        out[run["detector"]] = [(b.get("value"), b.get("ci")) for b in blocks]
    return out


def fold_figures(document: dict[str, Any], runs: list[dict[str, Any]], clean: list[dict[str, Any]],
                 key: str) -> str:  # fmt: skip
    """The figures of one fold: ROC, reliability, per-generator TPR and, with perturbations, robustness."""
    from negate_sdk.bench import report_figures as rf

    curves, reliability = {}, {}
    for run in runs:
        mine = [p for p in clean if p["detector"] == run["detector"] and not p.get("seen_in_training")]
        label = np.array([p["label"] for p in mine], float)
        score = np.array([p["score"] for p in mine], float)
        curves[run["detector"]] = _roc_points(label, score)
        reliability[run["detector"]] = rf.reliability_points(label, score)
    figures = [
        rf.figure_html(rf.roc_figure(curves, key), "ROC curves on clean test images"),
        rf.figure_html(rf.reliability_figure(reliability, key),
                       f"Reliability of the calibrated scores ({rf.RELIABILITY_BINS} bins); below, images "
                       "per bin"),
    ]  # fmt: skip
    generators = sorted({g for r in runs for g in r["metrics"].get("per_generator", {})})
    if generators:
        series = _series(runs, "per_generator", generators, "tpr")
        svg = rf.bar_figure(generators, series, f"gen-{key}", "TPR")
        figures.append(rf.figure_html(svg, "Detection rate (TPR) per generator, 95% intervals"))
    conditions = document["protocol"].get("conditions", ["clean"])
    if len(conditions) > 1:
        for metric, label in (("auc", "AUC"), ("fpr", "FPR")):
            svg = rf.bar_figure(
                conditions, _series(runs, "per_condition", conditions, metric), f"{metric}-{key}", label
            )
            figures.append(rf.figure_html(svg, f"Robustness: {label} per condition, 95% intervals"))
    return f"<div class='figures'>{''.join(figures)}</div>"


def _roc_points(label: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.metrics import roc_curve

    if len(set(label)) < 2:
        return np.array([0.0, 1.0]), np.array([0.0, 1.0])
    fpr, tpr, _ = roc_curve(label, score)
    return fpr, tpr


def dataset_section(document: dict[str, Any], predictions: list[dict[str, Any]], index: int = 0) -> str:
    """Figures and tables of one results document (``index``: its place in the page, for unique ids)."""
    dataset = document["dataset"]
    parts = [f"<h2>{html.escape(dataset['id'])}</h2>"]
    parts.append(
        f"<p class='note'>content hash {html.escape(dataset.get('content_hash', '')[:16])} · "
        f"{dataset.get('n_rows', '?')} rows · protocol {html.escape(document['protocol']['name'])}</p>"
    )
    if document.get("failed"):
        parts.append("<h3>Detectors that failed</h3>" + failed_table(document["failed"]))
    for f, fold in enumerate(sorted({r["fold"] for r in document["runs"]})):
        runs = [r for r in document["runs"] if r["fold"] == fold and r.get("metrics")]
        if not runs:
            continue
        clean = [p for p in predictions if p["fold"] == fold and p["condition"] == "clean"]
        parts.append(f"<h3>{html.escape(fold)}</h3>{small_n_warning(runs)}")
        if clean:
            parts.append(fold_figures(document, runs, clean, f"{index}-{f}"))
        parts += [
            "<h4>Per generator (clean)</h4>", generator_table(runs, predictions),
            "<h4>Per real source (clean)</h4>", real_source_table(runs),
            "<h4>Verdicts per class (clean)</h4>", verdict_table(runs),
            "<h4>Thresholds</h4>", threshold_table(runs),
            "<h4>All metrics per group</h4>", _source_table(runs),
        ]  # fmt: skip
    if document.get("clip_bias"):
        parts.append("<h3>CLIP bias</h3><p class='note'>Accuracy delta of the CLIP-based detector minus the "
                     "other on the same images, per generator group; bias = Δ on CLIP generators − Δ on "
                     "non-CLIP ones; paired-bootstrap 95% intervals.</p>")  # fmt: skip
        parts.append(clip_bias_table(document["clip_bias"]))
    return "".join(parts)


def build_report(result_paths: Sequence[str | Path], sort_by: str = "auc") -> str:
    """The full HTML page for one or more ``results.json`` files (predictions read from beside them)."""
    documents = [read_results(p) for p in result_paths]
    rows = sort_rows(leaderboard_rows(documents), sort_by)
    sections = []
    for i, (path, document) in enumerate(zip(result_paths, documents)):
        predictions_path = Path(path).with_name("predictions.parquet")
        predictions = read_predictions(predictions_path) if predictions_path.exists() else []
        sections.append(dataset_section(document, predictions, i))
    provenance = documents[0]["provenance"] if documents else {}
    n_boot = (provenance.get("config") or {}).get("n_boot", "?")
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        "<title>negate-bench report</title>"
        f"<style>{CSS}</style></head><body>"
        "<h1>negate-bench report</h1>"
        f"<p class='note'>negate-sdk {html.escape(str(provenance.get('negate_sdk', '?')))} · git "
        f"{html.escape(str(provenance.get('git_sha') or 'n/a')[:12])} · seed {provenance.get('seed', '?')} · "
        f"intervals are 95% percentile bootstrap intervals ({html.escape(str(n_boot))} resamples); a rate "
        "at 0 or 1, or one whose resamples mostly lack its class, has the 95% Wilson score interval "
        f"instead. '(small)' marks a group under {MIN_GROUP_N} images, too few to rank detectors by. "
        "Accuracy uses each detector's stored threshold, never one tuned on test labels.</p>"
        f"<h2>Leaderboard</h2>{html_table(rows)}{''.join(sections)}</body></html>"
    )
