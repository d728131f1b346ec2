"""``negate-bench leaderboard``: compare results files in one table (or md, csv, json, html)."""

from __future__ import annotations

from pathlib import Path

import click

from negate_sdk.artifacts import atomic_write_bytes
from negate_sdk.bench.leaderboard import COLUMNS, FORMATS, VIEWS
from negate_sdk.registry import suggest


@click.command("leaderboard")
@click.argument("results", nargs=-1, required=True, type=click.Path(exists=True))
@click.option(
    "--sort-by",
    default="auc",
    show_default=True,
    type=click.Choice([k for k, _ in COLUMNS] + ["detector"]),
    help="Metric (or detector name) the rows are ranked by.",
)
@click.option(
    "--format",
    "fmt",
    default="table",
    show_default=True,
    type=click.Choice(FORMATS),
    help="table, md, csv, json, or html (the full offline report).",
)
@click.option(
    "--condition",
    default="clean",
    show_default=True,
    help="A robustness condition of the results (jpeg_q50, ...) instead of clean.",
)
@click.option(
    "--view",
    default="standard",
    show_default=True,
    type=click.Choice(list(VIEWS)),
    help="Columns: standard, or reach (verdict shares per class, for unseen sources).",
)
@click.option("--output", type=click.Path(dir_okay=False), help="Write to a file instead of printing.")
def leaderboard_command(
    results: tuple[str, ...], sort_by: str, fmt: str, condition: str, view: str, output: str | None
) -> None:
    """Rank detectors across RESULTS (results.json files or folders holding them)."""
    from negate_sdk.bench.leaderboard import leaderboard_rows, render, sort_rows
    from negate_sdk.bench.report import build_report
    from negate_sdk.bench.results import read_results

    paths = []
    for item in results:
        path = Path(item)
        paths += sorted(path.rglob("results.json")) if path.is_dir() else [path]
    if not paths:
        raise click.ClickException("no results.json found in the given paths")
    try:
        documents = [read_results(p) for p in paths]
    except (ValueError, KeyError) as err:
        raise click.ClickException(str(err)) from None
    conditions = {"clean"} | {c for d in documents for c in d.get("protocol", {}).get("conditions", [])}
    if condition not in conditions:
        hints = suggest(condition, conditions)
        hint = (
            f"did you mean '{hints[0]}'?" if hints else f"these results hold: {', '.join(sorted(conditions))}"
        )
        raise click.BadParameter(
            f"no results under condition '{condition}'; {hint}", param_hint="--condition"
        )
    rows = sort_rows(leaderboard_rows(documents, condition), sort_by)
    text = build_report(paths, sort_by) if fmt == "html" else render(rows, fmt, view)
    if output:
        atomic_write_bytes(Path(output), text.encode())  # whole or not at all, even on a full disk
        click.echo(f"wrote {output}", err=True)
    else:
        click.echo(text, nl=not text.endswith("\n"))
