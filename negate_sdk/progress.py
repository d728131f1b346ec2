"""Progress of long work: one callback type, rich bars on stderr (so ``--json`` output on stdout stays
clean), or one line per finished stage when stderr is a log rather than a terminal.

Every long-running function takes ``progress: ProgressFn | None`` and calls ``progress(stage, advance,
total)``; the CLI passes a :class:`StageProgress`. Components never import click.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

from rich.console import Console
from rich.markup import escape
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

ProgressFn = Callable[[str, int, int], None]  # (stage description, advance, total)


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
            # stage names hold user text ("score hybrid [jpeg_q95]"): escaped, never read as markup
            shown = escape(stage)
            self.tasks[stage] = self.progress.add_task(shown, total=max(total, 1) if total else 1)
            if total == 0:
                self.progress.update(self.tasks[stage], completed=1, description=f"{shown} (cached)")
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
        self.progress.console.print(f"{stage}: {what}", highlight=False, markup=False)


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


class Reporter:
    """Reports batches of named stages (``"saturate_cnn epoch 2/5"``) and one line per finished epoch.

    With ``progress`` given, every update goes to it (the harness's bars); otherwise, when ``verbose``,
    rich bars are drawn on stderr while the ``with`` block runs. ``log`` lines go to stderr when
    ``verbose``.
    """

    def __init__(self, progress: ProgressFn | None = None, verbose: bool = True) -> None:
        self.progress = progress
        self.verbose = verbose
        self._bars: Any = None
        self._console: Any = None

    def __enter__(self) -> Reporter:
        if self.verbose:
            self._console = Console(stderr=True)
        if self.progress is None and self.verbose:
            self._bars = stage_progress()
            self.progress = self._bars.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._bars is not None:
            self._bars.__exit__(*exc)
            self._bars = None
            self.progress = None

    def __call__(self, stage: str, advance: int, total: int) -> None:
        """Advance ``stage`` by ``advance`` of ``total`` units."""
        if self.progress is not None:
            self.progress(stage, advance, total)

    def log(self, message: str) -> None:
        """Print one line to stderr (when verbose)."""
        if self._console is not None:
            self._console.print(message, highlight=False, markup=False, soft_wrap=True)
