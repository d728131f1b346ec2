"""Rich progress bars for long work, on stderr (so `--json` output on stdout stays clean), or one line per
finished stage when stderr is a log rather than a terminal.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


class StageProgress:
    """One bar per named stage (decode, extract …, fit, score), each with its own count and ETA.

    When stderr is not a terminal (a log file, CI), live bars are replaced by one line per finished stage.
    """

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.tasks: dict[str, TaskID] = {}
        self.live = progress.console.is_terminal and not progress.disable

    def __call__(self, stage: str, advance: int, total: int) -> None:
        """Advance ``stage`` by ``advance`` out of ``total`` (creating its bar on first sight)."""
        if stage not in self.tasks or self._task(stage).finished:
            if stage in self.tasks:  # the same stage again (a new condition, a new fold): a fresh bar
                self.progress.remove_task(self.tasks[stage])
            self.tasks[stage] = self.progress.add_task(stage, total=max(total, 1) if total else 1)
            if total == 0:
                self.progress.update(self.tasks[stage], completed=1, description=f"{stage} (cached)")
                self._log(stage, cached=True)
        self.progress.update(self.tasks[stage], advance=advance)
        if advance and self._task(stage).finished:
            self._log(stage)

    def _task(self, stage: str) -> Task:
        return next(t for t in self.progress.tasks if t.id == self.tasks[stage])

    def _log(self, stage: str, cached: bool = False) -> None:
        if self.live or self.progress.disable:
            return
        task = self._task(stage)
        elapsed = task.finished_time or 0.0
        what = "nothing to do (cached)" if cached else f"{task.completed:.0f} in {elapsed:.1f}s"
        self.progress.console.print(f"{stage}: {what}", highlight=False)


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
    if not console.is_terminal:  # no live display to a log: StageProgress prints a line per stage instead
        progress.live.transient = True
    with progress:
        yield StageProgress(progress)
