"""``negate check``: verdicts for image files and folders from a saved detector.

Every file named, and every image file found in a folder, gets one row: its verdict, or the one-line
reason it could not be judged. Exit status: 0 when every file was judged, 3 when at least one could not
be (the others are still judged and listed), 1 for an error that stopped the command (a model that cannot
be loaded), 2 for a bad command line.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import click

from negate_sdk.cli._common import PARTIAL, emit
from negate_sdk.progress import stage_progress
from negate_sdk.safetext import path_text

# In folders only files with these extensions are checked; a file named on the command line always is.
IMAGE_SUFFIXES = {
    ".jpg", ".jpeg", ".jfif", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff", ".avif", ".heic", ".mpo",
}  # fmt: skip
EXIT_UNJUDGED = PARTIAL


def expand_paths(paths: tuple[str, ...]) -> Iterator[tuple[Path, str | None]]:
    """``(path, reason)`` for files named directly, then image files found (recursively, sorted, hidden
    ones skipped) in folders; ``reason`` is set for a folder that cannot be read."""
    for raw in paths:
        path = Path(raw)
        if not path.is_dir():
            yield path, None
            continue
        unreadable: list[tuple[Path, str]] = []

        def record(err: OSError, unreadable: list = unreadable, root: Path = path) -> None:
            unreadable.append((Path(err.filename or root), f"cannot read folder: {err.strerror or err}"))

        found = []
        for folder, folders, files in os.walk(path, onerror=record):
            folders[:] = sorted(f for f in folders if not f.startswith("."))
            for name in files:
                if not name.startswith(".") and Path(name).suffix.lower() in IMAGE_SUFFIXES:
                    found.append(Path(folder) / name)
        yield from unreadable
        for file in sorted(found):
            yield file, None


def _row(path: Path, verdict: object | None, error: str | None) -> dict:
    return {
        "path": path_text(path),
        "score": None if error else round(verdict.score, 6),  # type: ignore[attr-defined]
        "verdict": None if error else verdict.label.value,  # type: ignore[attr-defined]
        "reasons": [] if error else verdict.reasons,  # type: ignore[attr-defined]
        "error": error,
    }


@click.command("check")
@click.argument("paths", nargs=-1, required=True)
@click.option("--model", "model_dir", required=True, type=click.Path(file_okay=False), help="Saved detector.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per input instead of a table.")
@click.option(
    "--batch-size", default=32, show_default=True, type=click.IntRange(min=1), help="Images scored together."
)
@click.option(
    "--threads",
    type=click.IntRange(min=1),
    help="Threads for the networks (default: every core this process may use).",
)
def check_command(
    paths: tuple[str, ...], model_dir: str, as_json: bool, batch_size: int, threads: int | None
) -> None:
    """Check image files and folders: verdict (GENUINE / UNCERTAIN / SYNTHETIC), score and reasons.

    A file that cannot be judged gets its one-line reason and the others are still checked; the exit
    status is then 3 (0 when every file was judged). What is happening (loading the model, progress over
    a folder) goes to stderr, so ``--json`` output stays clean.
    """
    from rich.console import Console

    from negate_sdk.detectors import load_detector
    from negate_sdk.runtime.onnx_graphs import THREADS_ENV
    from negate_sdk.sample import Sample

    if threads:
        os.environ[THREADS_ENV] = str(threads)  # read when the networks' sessions are created
    console = Console(stderr=True)
    with console.status(f"loading the detector in {path_text(Path(model_dir))} …"):
        detector = load_detector(model_dir)
    entries = list(expand_paths(paths))
    rows: list[dict] = []
    with stage_progress(enabled=len(entries) > 1) as progress:
        for start in range(0, len(entries), batch_size):
            batch = entries[start : start + batch_size]
            files = [path for path, reason in batch if reason is None]
            verdicts = iter(detector.verdicts([Sample.from_path(path) for path in files]))
            for path, reason in batch:
                verdict = None if reason else next(verdicts)
                rows.append(_row(path, verdict, reason or (verdict.error if verdict else None)))
            progress("check", len(batch), len(entries))
    failed = sum(1 for row in rows if row["error"])
    if as_json:
        click.echo(json.dumps(rows, indent=2))
    else:
        emit(rows, ["path", "verdict", "score", "reasons", "error"], as_json=False,
             empty="no image files found")  # fmt: skip
    if failed:
        click.echo(f"{failed} of {len(rows)} file(s) could not be checked (see 'error')", err=True)
        click.get_current_context().exit(EXIT_UNJUDGED)
