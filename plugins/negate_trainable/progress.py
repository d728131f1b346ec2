"""Progress of a training run: forwarded to a ``(stage, advance, total)`` callback or drawn on stderr.

Components never import click; the bars are rich's, on stderr, so JSON on stdout stays clean.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

ProgressFn = Callable[[str, int, int], None]


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
            from rich.console import Console

            self._console = Console(stderr=True)
        if self.progress is None and self.verbose:
            from negate_sdk.progress import stage_progress

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
