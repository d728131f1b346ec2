"""``negate check``: verdicts for image files and folders from a saved detector."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import click

from negate_sdk.cli._common import emit
from negate_sdk.progress import stage_progress

# In folders only files with these extensions are checked; a file named on the command line always is.
IMAGE_SUFFIXES = {
    ".jpg", ".jpeg", ".jfif", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff", ".avif", ".heic", ".mpo",
}  # fmt: skip


def expand_paths(paths: tuple[str, ...]) -> Iterator[Path]:
    """Files named directly, then image files found (recursively, sorted, hidden ones skipped) in folders."""
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            for found in sorted(path.rglob("*")):
                hidden = any(part.startswith(".") for part in found.relative_to(path).parts)
                if found.is_file() and not hidden and found.suffix.lower() in IMAGE_SUFFIXES:
                    yield found
        else:
            yield path


@click.command("check")
@click.argument("paths", nargs=-1, required=True)
@click.option("--model", "model_dir", required=True, type=click.Path(file_okay=False), help="Saved detector.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per input instead of a table.")
@click.option("--batch-size", default=32, show_default=True, help="Images scored together.")
def check_command(paths: tuple[str, ...], model_dir: str, as_json: bool, batch_size: int) -> None:
    """Check image files and folders: verdict (GENUINE / UNCERTAIN / SYNTHETIC), score and reasons.

    Unreadable files are listed with their reason; the others are still checked.
    """
    from negate_sdk.api import Sample
    from negate_sdk.detectors import load_detector

    detector = load_detector(model_dir)
    files = list(expand_paths(paths))
    rows = []
    with stage_progress(enabled=not as_json and len(files) > batch_size) as progress:
        for start in range(0, len(files), batch_size):
            batch = files[start : start + batch_size]
            samples = [Sample.from_path(path) for path in batch]
            for path, verdict in zip(batch, detector.verdicts(samples)):
                rows.append(
                    {
                        "path": str(path),
                        "score": None if verdict.error else round(verdict.score, 6),
                        "verdict": None if verdict.error else verdict.label.value,
                        "reasons": verdict.reasons,
                        "error": verdict.error,
                    }
                )
            for sample in samples:
                sample.release()
            progress("check", len(batch), len(files))
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    emit(rows, ["path", "verdict", "score", "reasons", "error"], as_json=False, empty="no image files found")
    failed = sum(1 for row in rows if row["error"])
    if failed:
        click.echo(f"{failed} of {len(rows)} file(s) could not be checked (see 'error')", err=True)
