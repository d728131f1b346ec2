"""The report's figures, drawn with matplotlib and embedded as inline SVG (text kept as text, no URLs).

matplotlib is imported inside the functions (importing negate_sdk stays light). Figures are built on
:class:`matplotlib.figure.Figure` directly, never through pyplot, so no global figure is left open; the SVG
hash salt is fixed per figure, so the same results give the same page. Legends sit below the axes and
group labels are rotated, so neither covers the curves nor each other.
"""

from __future__ import annotations

import html
import io
import re
from collections.abc import Sequence

import numpy as np

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf")
RELIABILITY_BINS = 10
_CLASS_ID = re.compile(r'id="cls-([a-z]+)-[0-9]+"')
_XMLNS = re.compile(r'\s+xmlns(:\w+)?="[^"]*"')


def _new_figure(width: float = 6.0, height: float = 4.2, rows: int = 1, ratios: Sequence[float] = (1,)):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    axes = fig.subplots(
        rows, 1, sharex=rows > 1, gridspec_kw={"height_ratios": list(ratios)} if rows > 1 else None
    )
    return fig, axes


def _legend(fig, axes, n: int) -> None:
    if n:
        fig.legend(*axes.get_legend_handles_labels(), loc="outside lower center", ncols=min(n, 2),
                   frameon=False, fontsize=8)  # fmt: skip


def to_svg(fig, key: str) -> str:
    """The figure as an inline ``<svg>`` element: text as ``<text>``, no prolog, metadata or namespaces.

    ``key`` salts matplotlib's ids of markers and clip paths, so figures on one page never share one (other
    ids are dropped). Elements given
    a gid ``cls-NAME-i`` carry ``class="NAME"`` instead (``roc``, ``bar``, ``reliability``, ``counts``).
    """
    import matplotlib

    buffer = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": f"negate-{key}"}):
        fig.savefig(
            buffer, format="svg", metadata={"Date": None, "Creator": None, "Format": None, "Type": None}
        )
    text = buffer.getvalue()
    text = text[text.index("<svg") :]
    text = re.sub(r"<metadata>.*?</metadata>", "", text, flags=re.S)
    text = _XMLNS.sub("", text, count=0)
    text = _CLASS_ID.sub(r'class="\1"', text)
    # matplotlib names every group (figure_1, axes_1 …): keep only the ids something refers to, which the
    # salt makes unique on the page
    used = set(re.findall(r'(?:href="|url\()#([^")]+)', text))
    return re.sub(r'\s+id="([^"]*)"', lambda m: m.group(0) if m.group(1) in used else "", text).strip()


def figure_html(svg: str, caption: str) -> str:
    """``<figure>`` with the SVG and an escaped caption."""
    return f"<figure>{svg}<figcaption>{html.escape(caption)}</figcaption></figure>"


def roc_figure(curves: dict[str, tuple[np.ndarray, np.ndarray]], key: str) -> str:
    """ROC curves (FPR → TPR) of several detectors, as inline SVG."""
    fig, ax = _new_figure()
    ax.plot([0, 1], [0, 1], color="#bbb", linestyle="--", linewidth=1)
    for i, (name, (fpr, tpr)) in enumerate(curves.items()):
        (line,) = ax.plot(fpr, tpr, color=PALETTE[i % len(PALETTE)], linewidth=2, label=name)
        line.set_gid(f"cls-roc-{i}")
    ax.set(xlim=(-0.02, 1.02), ylim=(-0.02, 1.02), xlabel="false-positive rate (reals called synthetic)",
           ylabel="true-positive rate")  # fmt: skip
    _legend(fig, ax, len(curves))
    return to_svg(fig, f"roc-{key}")


def reliability_points(label: np.ndarray, score: np.ndarray, bins: int = RELIABILITY_BINS):
    """``(mean predicted, observed share synthetic, count)`` per bin of ``[0, 1]`` (empty bins: NaN, 0)."""
    label, score = np.asarray(label, float), np.asarray(score, float)
    index = np.minimum((score * bins).astype(int), bins - 1)
    counts = np.bincount(index, minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        predicted = np.bincount(index, weights=score, minlength=bins) / counts
        observed = np.bincount(index, weights=label, minlength=bins) / counts
    return predicted, observed, counts


def reliability_figure(curves: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]], key: str) -> str:
    """Reliability diagram (mean predicted against observed share, per bin) over the images per bin."""
    from matplotlib.ticker import MaxNLocator

    fig, (top, bottom) = _new_figure(height=5.2, rows=2, ratios=(3, 1.2))
    top.plot([0, 1], [0, 1], color="#bbb", linestyle="--", linewidth=1)
    n = max(len(curves), 1)
    edges = np.linspace(0, 1, RELIABILITY_BINS + 1)
    width = (edges[1] - edges[0]) * 0.8 / n
    for i, (name, (predicted, observed, counts)) in enumerate(curves.items()):
        colour = PALETTE[i % len(PALETTE)]
        keep = counts > 0
        (line,) = top.plot(predicted[keep], observed[keep], color=colour, marker="o", markersize=4,
                           linewidth=2, label=name)  # fmt: skip
        line.set_gid(f"cls-reliability-{i}")
        bars = bottom.bar(edges[:-1] + (edges[1] - edges[0]) * 0.1 + i * width, counts, width=width,
                          align="edge", color=colour, alpha=0.85)  # fmt: skip
        for j, bar in enumerate(bars):
            bar.set_gid(f"cls-counts-{i * RELIABILITY_BINS + j}")
    top.set(xlim=(-0.02, 1.02), ylim=(-0.02, 1.02), ylabel="observed share synthetic")
    bottom.set(xlabel="mean predicted P(synthetic)", ylabel="images")
    bottom.set_xticks(edges[::2])
    bottom.yaxis.set_major_locator(MaxNLocator(nbins=3, integer=True))
    top.tick_params(labelbottom=False)
    _legend(fig, top, len(curves))
    return to_svg(fig, f"reliability-{key}")


def bar_figure(groups: list[str], series: dict[str, list[tuple[float | None, list]]], key: str,
               y_label: str) -> str:  # fmt: skip
    """Grouped bars with 95% interval whiskers: ``series[name][i] = (value, [lo, hi])`` for ``groups[i]``.

    Group labels are rotated (and the figure widened for many groups) so they never run into each other.
    """
    n_groups, n_series = max(len(groups), 1), max(len(series), 1)
    fig, ax = _new_figure(width=max(6.0, 1.2 + 0.32 * n_groups * max(1.0, n_series / 3)), height=4.6)
    width = 0.8 / n_series
    x = np.arange(n_groups)
    for s, (name, values) in enumerate(series.items()):
        colour = PALETTE[s % len(PALETTE)]
        heights = np.array([np.nan if v is None else v for v, _ in values], float)
        positions = x - 0.4 + (s + 0.5) * width
        bars = ax.bar(positions, np.nan_to_num(heights), width=width, color=colour, alpha=0.85, label=name)
        for i, bar in enumerate(bars):
            bar.set_gid(f"cls-bar-{i}")
            if np.isnan(heights[i]):
                bar.set_visible(False)
        low = [h - ci[0] if ci and ci[0] is not None else 0.0 for h, (_, ci) in zip(heights, values)]
        high = [ci[1] - h if ci and ci[1] is not None else 0.0 for h, (_, ci) in zip(heights, values)]
        ok = ~np.isnan(heights)
        if ok.any():
            ax.errorbar(positions[ok], heights[ok], yerr=[np.array(low)[ok], np.array(high)[ok]], fmt="none",
                        ecolor="#222", elinewidth=1, capsize=2)  # fmt: skip
    ax.set_xticks(x, [_short(g) for g in groups], rotation=35, ha="right", rotation_mode="anchor")
    ax.set(ylim=(0, 1.02), ylabel=y_label, xlim=(-0.6, n_groups - 0.4))
    _legend(fig, ax, len(series))
    return to_svg(fig, f"bars-{key}")


def _short(label: str, limit: int = 36) -> str:
    """A long group name cut in the middle, so names that differ only at the end stay apart."""
    half = (limit - 1) // 2
    return label if len(label) <= limit else label[:half] + "…" + label[-half:]
