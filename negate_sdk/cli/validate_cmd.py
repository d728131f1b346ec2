"""``negate-bench validate``: check datasets (schema, maps, files, counts, the format shortcut)."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from negate_sdk.cli._common import warn_plugin_failures


def escape(text: str) -> str:
    """``text`` with rich markup escaped (imported lazily: rich is not needed to build the command)."""
    from rich.markup import escape as rich_escape

    return rich_escape(text)


_LEVEL_STYLE = {"error": "bold red", "warning": "yellow", "note": "dim"}


def _console(stderr: bool = False) -> Any:
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    return Console(file=stream, width=None if stream.isatty() else 120, highlight=False)


def _table(title: str, columns: list[str], rows: list[list[Any]], markup: bool = False) -> Any:
    from rich.table import Table

    table = Table(title=title, title_justify="left", header_style="bold")
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        cells = ("" if v is None else str(v) for v in row)
        table.add_row(*(c if markup else escape(c) for c in cells))  # cells hold names from the data
    return table


def _run_one(manifest: Any, *, check_files: bool, limit: int | None, seed: int, workers: int | None,
             threshold: float) -> Any:  # fmt: skip
    from negate_sdk.manifests.validate import validate_manifest
    from negate_sdk.progress import stage_progress

    with stage_progress() as progress:
        return validate_manifest(
            manifest,
            check_files=check_files,
            limit=limit,
            seed=seed,
            workers=workers,
            progress=progress,
            shortcut_threshold=threshold,
        )


def _render_duplicates(console: Any, duplicates: dict[str, Any], n_rows: int) -> None:
    """The duplicates table: byte-identical groups, the splits they straddle, and a few examples."""
    if not duplicates.get("rows_hashed"):
        console.print("  duplicates: not checked (the manifest states no sha256 and no file was read)")
        return
    straddling = ", ".join(f"{k} {n}" for k, n in duplicates["straddling"].items()) or "none"
    columns = ["groups", "rows", "extra copies", "groups across splits", "train/test overlap",
               "label conflicts", "rows hashed"]  # fmt: skip
    hashed = f"{duplicates['rows_hashed']}/{n_rows}"
    keys = ("n_groups", "n_rows", "extra_copies")
    row = [*(duplicates[k] for k in keys), straddling, duplicates["train_test_overlap"],
           duplicates["label_conflicts"], hashed]  # fmt: skip
    console.print(_table("duplicates: byte-identical images (same sha256)", columns, [row]))
    for example in duplicates["examples"]:
        ids = escape(", ".join(example["sample_ids"]))
        console.print(f"    {example['sha256']} in {'+'.join(example['splits'])}: {ids}", soft_wrap=True)


def _render(report: Any) -> None:
    console = _console()
    prov = report.provenance
    header = report.header
    where = header["repo_id"] and f"{header['repo_id']}@{header['revision'] or '?'}"
    console.print(
        f"[bold]{report.dataset}[/bold]  {prov['n_rows']} rows  {header['kind']} ({header['origin']})  "
        f"content hash {prov['content_hash'][:16]}"
    )
    console.print(f"  root: {header['root']}" + (f"  repo: {where}" if where else ""))
    if header.get("licence"):
        console.print(f"  licence: {header['licence']}")
    if header.get("selection"):
        console.print(f"  selection: {'; '.join(header['selection'])}")
    c = report.counts
    console.print(
        _table(
            "split × label",
            ["split", "real", "synthetic", "total"],
            [
                [s, v.get("real", 0), v.get("synthetic", 0), sum(v.values())]
                for s, v in c["split_label"].items()
            ],
        )
    )
    console.print(
        _table(
            "generators",
            ["generator", "rows", "uses_clip"],
            [[g, v["rows"], v["uses_clip"]] for g, v in c["generator"].items()],
        )
    )
    measured = (
        f" (measured on {c['measured_on']} files)" if "measured_on" in c else " (as the manifest states)"
    )
    console.print(f"  sources: {', '.join(f'{s} {n}' for s, n in c['source'].items())}")
    console.print(f"  formats{measured}: {', '.join(f'{k} {v}' for k, v in c['format'].items())}")
    console.print(f"  sizes{measured}: {', '.join(f'{k} {v}' for k, v in c['size'].items())}")
    if report.files is not None:
        f = report.files
        sha = (
            f"sha256 {f.sha256_checked - f.sha256_mismatch}/{f.sha256_checked} match"
            if f.sha256_checked
            else "no sha256 in the manifest"
        )
        console.print(
            f"  files: {f.checked} checked, {f.decoded} decoded, {f.failed} failed; {sha}; "
            f"{f.seconds:.1f} s on {f.workers} worker(s)"
        )
    _render_duplicates(console, report.duplicates, c["rows"])
    if report.shortcuts:
        attributes = list(dict.fromkeys(s.attribute for s in report.shortcuts))
        by_source: dict[str, dict[str, Any]] = {}
        for s in report.shortcuts:
            mark = "[bold red]" if s.flagged else ""
            by_source.setdefault(s.source, {})[s.attribute] = (
                f"{mark}{s.auc:.2f}{'[/bold red] !' if s.flagged else ''}"
            )
        rows = [[src, *(cells.get(a, "") for a in attributes)] for src, cells in by_source.items()]
        title = (
            f"format shortcut: AUC of each attribute alone as a classifier of the label (warn ≥ "
            f"{report.shortcut_threshold:.2f}; bytes_per_pixel depends on content, shown for information)"
        )
        console.print(_table(title, ["source", *attributes], rows, markup=True))
    for issue in report.issues:
        style = _LEVEL_STYLE[issue.level]
        examples = f" (e.g. {', '.join(issue.examples)})" if issue.examples else ""
        text = escape(f"{issue.code}: {issue.message}{examples}")  # file names are data, not markup
        console.print(f"  [{style}]{issue.level}[/{style}] {text}", soft_wrap=True)
    for known in header.get("known_issues", []):
        console.print(f"  [dim]known issue: {known}[/dim]", soft_wrap=True)
    console.print()


def _duplicates_cell(duplicates: dict[str, Any]) -> str:
    """``"8 groups (4 train/test)"``, or ``"?"`` when no sha256 is known."""
    if not duplicates.get("rows_hashed"):
        return "?"
    return f"{duplicates['n_groups']} groups ({duplicates['train_test_overlap']} train/test)"


def _summary(entries: list[dict[str, Any]]) -> None:
    rows = []
    for e in entries:
        if not e["available"]:
            reason = e["reason"].split(";")[0].split(": ", 1)[-1]  # the full text is in --json
            rows.append([e["dataset"], "unavailable", "", "", "", "", reason])
            continue
        n_err = sum(1 for i in e["issues"] if i["level"] == "error")
        n_warn = sum(1 for i in e["issues"] if i["level"] == "warning")
        splits = ", ".join(f"{k} {v}" for k, v in e["counts"]["split"].items())
        status = "ok" if n_err == 0 else "errors"
        hash_prefix = e["provenance"]["content_hash"][:16]
        duplicates = _duplicates_cell(e.get("duplicates", {}))
        rows.append([e["dataset"], status, e["counts"]["rows"], splits, hash_prefix, duplicates,
                     f"{n_err} error(s), {n_warn} warning(s)"])  # fmt: skip
    columns = ["dataset", "status", "rows", "splits", "content hash", "duplicates", "issues"]
    if not any(e["available"] for e in entries):  # an empty column would only squeeze the reasons
        columns.remove("duplicates")
        rows = [row[:5] + row[6:] for row in rows]
    console = _console()
    console.print(_table("registered datasets", columns, rows))
    console.print(
        "files were not checked: pass --dataset ID (repeatable) to check files and the format shortcut"
    )


@click.command("validate")
@click.option(
    "--dataset",
    "datasets_",
    multiple=True,
    metavar="ID|FOLDER|TABLE",
    help="A registered dataset id, a folder of images, or a CSV/Parquet table (repeatable). "
    "Without it, every registered dataset is checked without reading files.",
)
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False),
    default=None,
    help="Folder of offline mirrors, one sub-folder per dataset id (default: $NEGATE_DATA_DIR).",
)
@click.option("--config", default=None, help="Configuration of a hub dataset (e.g. openfake: core, reddit).")
@click.option("--split", default=None, help="Check one split only.")
@click.option(
    "--label-dirs",
    default=None,
    metavar="NAME=real,NAME=synthetic",
    help="Class folder names of a folder dataset, e.g. 'nature=real,ai=synthetic'.",
)
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    default=None,
    help="Check the files of a seeded stratified sample of this many rows.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of --limit's sample.")
@click.option("--no-files", is_flag=True, help="Check the manifest only; do not read any image.")
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=None,
    help="Processes decoding files (default: up to 4 for 2,000 files or more, else 1).",
)
@click.option(
    "--shortcut-threshold",
    type=click.FloatRange(0.5, 1.0),
    default=0.8,
    show_default=True,
    help="Warn when one nuisance attribute alone reaches this AUC.",
)
@click.option("--strict", is_flag=True, help="Exit with status 1 on warnings too.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list (one object per dataset).")
def validate_command(
    datasets_: tuple[str, ...], data_dir: str | None, config: str | None, split: str | None,
    label_dirs: str | None, limit: int | None, seed: int, no_files: bool, workers: int | None,
    shortcut_threshold: float, strict: bool, as_json: bool,
) -> None:  # fmt: skip
    """Check datasets: schema, label and generator maps, files (exist, decode, sha256), counts per split,
    label, generator, format and size, and the format shortcut (an attribute such as format, size or JPEG
    quality that alone separates real from synthetic)."""
    from negate_sdk.manifests import DatasetUnavailableError, ManifestError
    from negate_sdk.manifests.resolve import parse_label_dirs, resolve_dataset

    entries: list[dict[str, Any]] = []
    reports = []
    try:
        if datasets_:
            for name in datasets_:
                manifest = resolve_dataset(
                    name,
                    data_dir=data_dir,
                    config=config,
                    split=split,
                    label_dirs=parse_label_dirs(label_dirs),
                )
                report = _run_one(manifest, check_files=not no_files, limit=limit, seed=seed, workers=workers,
                                  threshold=shortcut_threshold)  # fmt: skip
                reports.append(report)
                entries.append({"available": True, "reason": None, **report.to_dict()})
        else:
            from negate_sdk.catalog import list_datasets

            for name in list_datasets():
                try:
                    manifest = resolve_dataset(name, data_dir=data_dir)
                except DatasetUnavailableError as err:
                    entries.append({"dataset": name, "available": False, "reason": str(err), "ok": None})
                    continue
                report = _run_one(manifest, check_files=False, limit=None, seed=seed, workers=workers,
                                  threshold=shortcut_threshold)  # fmt: skip
                reports.append(report)
                entries.append({"available": True, "reason": None, **report.to_dict()})
    except ManifestError as err:
        raise click.ClickException(str(err)) from None
    warn_plugin_failures()
    if as_json:
        click.echo(json.dumps(entries, indent=2, default=str))
    elif datasets_:
        for report in reports:
            _render(report)
    else:
        _summary(entries)
    failing = [r.dataset for r in reports if r.errors or (strict and r.warnings)]
    if failing:
        what = "errors or warnings" if strict else "errors"
        click.echo(f"validation failed: {what} in {', '.join(failing)}", err=True)
        sys.exit(1)
