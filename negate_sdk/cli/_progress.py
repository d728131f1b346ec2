"""Rich progress bars (on stderr, so ``--json`` output on stdout stays clean)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


class StageProgress:
    """One bar per named stage (decode, extract …, fit, score), each with its own count and ETA."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.tasks: dict[str, TaskID] = {}

    def __call__(self, stage: str, advance: int, total: int) -> None:
        """Advance ``stage`` by ``advance`` out of ``total`` (creating its bar on first sight)."""
        if stage not in self.tasks:
            self.tasks[stage] = self.progress.add_task(stage, total=max(total, 1) if total else 1)
            if total == 0:
                self.progress.update(self.tasks[stage], completed=1, description=f"{stage} (cached)")
        self.progress.update(self.tasks[stage], advance=advance)

    def done(self, stage: str) -> None:
        """Mark a stage complete (for stages without a count)."""
        if stage in self.tasks:
            task = self.tasks[stage]
            self.progress.update(task, completed=self.progress.tasks[task].total)


@contextlib.contextmanager
def stage_progress(enabled: bool = True) -> Iterator[StageProgress]:
    """A :class:`StageProgress` rendering to stderr while the block runs."""
    console = Console(stderr=True)
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        console=console,
        disable=not enabled,
        transient=False,
    )
    with progress:
        yield StageProgress(progress)
