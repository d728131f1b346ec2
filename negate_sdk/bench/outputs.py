"""A run's outputs, published as one set: per dataset ``results.json`` and ``predictions.parquet``, then
``leaderboard.md`` and ``report.html`` of them all.

Everything is written into a staging folder beside the output folder while the run goes on and renamed
into place only when the run has finished, so a failed run (a full disk, an interrupt, an error) leaves the
output folder exactly as it was: never a new ``predictions.parquet`` beside an older ``results.json``, never
a zero-byte ``leaderboard.md``. An existing output folder is replaced only when it holds nothing but an
earlier run's outputs; a folder with anything else in it is refused before the run starts.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

from negate_sdk.artifacts import atomic_write_bytes, check_replaceable, publish_folder, staging_folder
from negate_sdk.bench.results import write_predictions, write_results

DATASET_FILES = frozenset({"results.json", "predictions.parquet"})
RUN_FILES = DATASET_FILES | {"leaderboard.md", "report.html"}
RUN_OUTPUT = "the output of an earlier run"


def run_files(folder: Path) -> set[str] | None:
    """The entries of ``folder`` a run wrote (its files and per-dataset folders), or None if it holds others.

    A run's folder holds :data:`RUN_FILES` and, for several datasets, one folder per dataset holding
    :data:`DATASET_FILES` (hidden entries aside).
    """
    owned = set()
    for entry in folder.iterdir():
        if entry.name.startswith("."):
            continue
        if entry.is_file() and not entry.is_symlink() and entry.name in RUN_FILES:
            owned.add(entry.name)
        elif entry.is_dir() and not entry.is_symlink():
            inner = {e.name for e in entry.iterdir() if not e.name.startswith(".")}
            if not inner or not inner <= DATASET_FILES or not all((entry / n).is_file() for n in inner):
                return None
            owned.add(entry.name)
        else:
            return None
    return owned


class RunOutputs(contextlib.AbstractContextManager):
    """Collects a run's outputs in a staging folder and publishes them together when the block succeeds.

    ``single``: the run has one dataset, whose files go straight into the output folder (else one folder
    per dataset id). After the block, :attr:`results_paths` lists the published ``results.json`` files.
    """

    def __init__(self, output: str | Path, *, single: bool) -> None:
        self.output = Path(output)
        self.single = single
        self.documents: list[dict[str, Any]] = []
        self.results_paths: list[Path] = []
        self._staged: list[Path] = []

    def __enter__(self) -> RunOutputs:
        check_replaceable(self.output, run_files, RUN_OUTPUT)  # before hours of work, not after
        self._context = staging_folder(self.output)
        self.staging = self._context.__enter__()
        return self

    def add(self, document: dict[str, Any], records: list[dict[str, Any]]) -> None:
        """Write one dataset's predictions and results into the staging folder."""
        folder = self.staging if self.single else self.staging / document["dataset"]["id"]
        folder.mkdir(parents=True, exist_ok=True)
        write_predictions(folder / "predictions.parquet", records)
        write_results(folder / "results.json", document)
        self.documents.append(document)
        self._staged.append(folder / "results.json")

    def __exit__(self, kind: Any, error: Any, traceback: Any) -> None:
        try:
            if kind is None:
                self._finish()
        finally:
            self._context.__exit__(kind, error, traceback)

    def _finish(self) -> None:
        from negate_sdk.bench.leaderboard import leaderboard_rows, render, sort_rows
        from negate_sdk.bench.report import build_report

        rows = sort_rows(leaderboard_rows(self.documents))
        atomic_write_bytes(self.staging / "leaderboard.md", render(rows, "md").encode())
        atomic_write_bytes(self.staging / "report.html", build_report(self._staged).encode())
        publish_folder(self.staging, self.output, owned=run_files, what=RUN_OUTPUT)
        self.results_paths = [self.output / p.relative_to(self.staging) for p in self._staged]
