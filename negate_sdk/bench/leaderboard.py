"""The leaderboard: one row per dataset × detector × fold, every figure with its 95% interval.

Rows come from ``results.json`` files only (never from a threshold tuned on test labels). A detector
evaluated on a dataset it was trained on (its card's ``trained_on``) is flagged ``contaminated``; a row
measured on fewer than :data:`~negate_sdk.bench.metrics.MIN_GROUP_N` images is flagged ``small_n`` and its
``n`` shown as ``12 (small)``.
"""

from __future__ import annotations

import csv
import html
import io
import json
from collections.abc import Sequence
from typing import Any

from negate_sdk.bench.metrics import MIN_GROUP_N

COLUMNS = (
    ("auc", "AUC"),
    ("ap", "AP"),
    ("accuracy", "acc"),
    ("balanced_accuracy", "bal. acc"),
    ("tpr_at_fpr_1", "TPR@1%FPR"),
    ("tpr_at_fpr_5", "TPR@5%FPR"),
    ("fpr", "FPR"),
    ("uncertain_rate", "uncertain"),
    ("ece", "ECE"),
)
# The reach view: how a detector does on sources it never saw (leave-one-source-out folds, other data),
# in what a user sees: verdict shares per class besides the ranking figures.
REACH_COLUMNS = (
    ("auc", "AUC"),
    ("tpr_at_fpr_1", "TPR@1%FPR"),
    ("tpr_at_fpr_5", "TPR@5%FPR"),
    ("synthetic_share_real", "reals SYNTHETIC"),
    ("uncertain_share_real", "reals UNCERTAIN"),
    ("synthetic_share_fake", "fakes SYNTHETIC"),
    ("uncertain_share_fake", "fakes UNCERTAIN"),
    ("novel_share_real", "reals unlike training"),
    ("novel_share_fake", "fakes unlike training"),
)
VIEWS = {"standard": COLUMNS, "reach": REACH_COLUMNS}
LOWER_IS_BETTER = {"fpr", "uncertain_rate", "ece", "eer", "brier", "synthetic_share_real",
                   "uncertain_share_real", "uncertain_share_fake", "novel_share_real",
                   "novel_share_fake"}  # fmt: skip
FORMATS = ("table", "md", "csv", "json", "html")


def leaderboard_rows(documents: Sequence[dict[str, Any]], condition: str = "clean") -> list[dict[str, Any]]:
    """Flatten results documents into rows; ``condition`` picks a robustness condition instead of clean."""
    rows = []
    for document in documents:
        dataset = document["dataset"]
        for run in document["runs"]:
            metrics = run.get("metrics", {})
            block = (
                metrics.get("overall", {})
                if condition == "clean"
                else metrics.get("per_condition", {}).get(condition)
            )
            if not block:
                continue
            row: dict[str, Any] = {
                "dataset": dataset["id"],
                "detector": run["detector"],
                "fold": run["fold"],
                "condition": condition,
                "n": block["auc"]["n"],
                # too few images for the intervals to separate detectors (results before the flag: from n)
                "small_n": bool(block["auc"].get("small_n", block["auc"]["n"] < MIN_GROUP_N)),
                "contaminated": bool(run.get("contaminated")),
                "seen_generators": list(run.get("seen_generators", [])),
                "pretrained": run.get("family") == "pretrained",
                "content_hash": dataset.get("content_hash", "")[:12],
            }
            for key in dict(COLUMNS) | dict(REACH_COLUMNS):
                metric = block.get(key, {"value": None, "ci": [None, None]})
                row[key] = metric["value"]
                row[f"{key}_ci"] = metric["ci"]
            rows.append(row)
    return rows


def sort_rows(rows: list[dict[str, Any]], sort_by: str = "auc") -> list[dict[str, Any]]:
    """Rows grouped by dataset, best first by ``sort_by`` (missing values last)."""
    known = dict(COLUMNS) | dict(REACH_COLUMNS)
    if sort_by not in known and sort_by not in ("detector", "dataset"):
        raise ValueError(f"cannot sort by '{sort_by}'; use one of {', '.join(known)}")
    sign = 1 if sort_by in LOWER_IS_BETTER else -1

    def key(row: dict[str, Any]) -> tuple:
        value = row.get(sort_by)
        if isinstance(value, str):
            return (row["dataset"], 0, value)
        return (row["dataset"], value is None, sign * value if value is not None else 0.0, row["detector"])

    return sorted(rows, key=key)


def _fmt(value: float | None, ci: Sequence[float | None] | None = None) -> str:
    if value is None:
        return "–"
    text = f"{value:.3f}"
    if ci and ci[0] is not None:
        text += f" [{ci[0]:.3f}, {ci[1]:.3f}]"
    return text


def headers(view: str = "standard") -> list[str]:
    """The column headers of a view (``standard`` or ``reach``)."""
    return ["dataset", "detector", "n"] + [label for _, label in VIEWS[view]]


def display_row(row: dict[str, Any], view: str = "standard") -> list[str]:
    """The cells of one leaderboard row as shown (under :func:`headers`): values with their intervals."""
    name = row["detector"] + (" (contaminated)" if row["contaminated"] else "")
    if row.get("seen_generators"):
        name += f" (trained on {', '.join(row['seen_generators'])})"
    fold = "" if row["fold"] in ("train-test", "model") else f" {row['fold']}"
    cells = [_fmt(row.get(k), row.get(f"{k}_ci")) for k, _ in VIEWS[view]]
    n = f"{row['n']} (small)" if row.get("small_n") else str(row["n"])
    return [row["dataset"] + fold, name, n, *cells]


def html_table(rows: Sequence[dict[str, Any]], view: str = "standard") -> str:
    """The leaderboard rows as an HTML table (escaped)."""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers(view))
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in display_row(r, view)) + "</tr>" for r in rows
    )
    return f'<table class="leaderboard"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def render(rows: list[dict[str, Any]], fmt: str, view: str = "standard") -> str:
    """The leaderboard as text in ``fmt`` (table, md, csv, json or html), columns of ``view``."""
    columns = VIEWS[view]
    if fmt == "json":
        return json.dumps(rows, indent=2)
    if fmt == "csv":
        buffer = io.StringIO()
        fields = ["dataset", "fold", "detector", "condition", "n", "small_n", "contaminated", "content_hash"]
        fields += [name for key, _ in columns for name in (key, f"{key}_lo", f"{key}_hi")]
        writer = csv.DictWriter(buffer, fieldnames=fields, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            flat = dict(row)
            for key, _ in columns:
                flat[f"{key}_lo"], flat[f"{key}_hi"] = row[f"{key}_ci"]
            writer.writerow(flat)
        return buffer.getvalue()
    if fmt == "md":
        lines = ["| " + " | ".join(headers(view)) + " |", "|" + "---|" * len(headers(view))]
        lines += ["| " + " | ".join(display_row(row, view)) + " |" for row in rows]
        return "\n".join(lines) + "\n"
    if fmt == "html":
        return html_table(rows, view)
    if fmt == "table":
        from rich.console import Console
        from rich.table import Table
        from rich.text import Text

        from negate_sdk.safetext import printable

        small = any(row.get("small_n") for row in rows)
        caption = f"(small): under {MIN_GROUP_N} images, too few to rank by" if small else None
        table = Table(title="leaderboard (95% intervals)", caption=caption, header_style="bold")
        for header in headers(view):
            table.add_column(header, overflow="fold")
        for row in rows:  # plain text: names are user input, never markup
            table.add_row(*(Text(printable(cell)) for cell in display_row(row, view)))
        console = Console(width=200, record=True, file=io.StringIO())
        console.print(table)
        return console.export_text()
    raise ValueError(f"unknown format '{fmt}'; use one of {', '.join(FORMATS)}")
