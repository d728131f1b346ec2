"""What every command shares: logging set-up (``-v``/``-q``), one-line errors, plugin warnings, and
table-or-JSON output."""

from __future__ import annotations

import copy
import json
import logging
import sys
from collections.abc import Sequence
from typing import Any

import click

from negate_sdk.artifacts import ArtifactError
from negate_sdk.imaging import ImageError
from negate_sdk.manifests.errors import ManifestError
from negate_sdk.registry import RegistryError
from negate_sdk.safetext import printable

logger = logging.getLogger("negate_sdk.cli")
POSITIVE = click.IntRange(min=1)
PARTIAL = 3  # exit status: the command finished, but some items (files, detectors) could not be done


class JobsType(click.ParamType):
    """A worker count: a positive number, or -1 for every core (-2 all but one, ...); never 0."""

    name = "jobs"

    def convert(self, value: Any, param: Any, ctx: Any) -> int:
        """The count as an int; 0 or a non-number is a usage error."""
        try:
            jobs = int(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a whole number", param, ctx)
        if jobs == 0:
            self.fail("0 workers cannot do anything: use 1 (this process) or -1 (all cores)", param, ctx)
        return jobs


JOBS = JobsType()

# Errors that are the user's to fix: shown as one line, never as a traceback.
USER_ERRORS = (RegistryError, ImageError, ArtifactError, ManifestError, FileNotFoundError)


class _LineFormatter(logging.Formatter):
    """``warning: message`` (or the message alone, ``level=False``); a captured Python warning keeps only
    its first line, not the source line the warnings module appends."""

    def __init__(self, level: bool = True) -> None:
        super().__init__()
        self.level = level

    def format(self, record: logging.LogRecord) -> str:
        """The record as one ``level: message`` line."""
        message = record.getMessage()
        if record.name == "py.warnings":
            message = message.strip().splitlines()[0]
        return f"{record.levelname.lower()}: {message}" if self.level else message


class _StderrHandler(logging.StreamHandler):
    """A stream handler writing to whatever ``sys.stderr`` is when a record comes (never a stale one)."""

    @property
    def stream(self) -> Any:
        """The current ``sys.stderr``."""
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


class _Verbosity(logging.Filter):
    """Records of negate and its plugins from ``level`` up; other libraries' from WARNING up."""

    def __init__(self, level: int) -> None:
        super().__init__()
        self.level = level

    def filter(self, record: logging.LogRecord) -> bool:
        """Whether the record is shown at this verbosity."""
        ours = record.name.startswith("negate") or record.name == "py.warnings"
        return record.levelno >= (self.level if ours else max(self.level, logging.WARNING))


def configure_logging(verbose: int = 0, quiet: bool = False) -> None:
    """Show log records (and Python warnings, through ``logging.captureWarnings``) on stderr.

    WARNING and up by default, INFO with ``-v``, DEBUG with ``-vv``, errors only with ``-q``: rich's
    ``RichHandler`` on a terminal, one ``level: message`` line per record otherwise (logs, pipes, CI).
    Calling it again replaces the handler it installed (each command configures it once).
    """
    level = logging.ERROR if quiet else (logging.WARNING, logging.INFO, logging.DEBUG)[min(verbose, 2)]
    root = logging.getLogger()
    for handler in [h for h in root.handlers if getattr(h, "_negate_cli", False)]:
        root.removeHandler(handler)
    if sys.stderr.isatty():
        from rich.console import Console
        from rich.logging import RichHandler

        handler: logging.Handler = RichHandler(console=Console(stderr=True), show_path=False, markup=False)
        handler.setFormatter(_LineFormatter(level=False))  # rich draws the level column itself
    else:
        handler = _StderrHandler()
        handler.setFormatter(_LineFormatter())
    handler._negate_cli = True  # type: ignore[attr-defined]
    handler.addFilter(_Verbosity(level))
    root.addHandler(handler)
    root.setLevel(min(level, logging.WARNING))
    logging.captureWarnings(False)  # then on again: whoever replaced warnings.showwarning since, we are last
    logging.captureWarnings(True)


VERBOSITY_OPTIONS = (
    click.Option(["-v", "--verbose"], count=True, help="More log output (-v info, -vv debug) on stderr."),
    click.Option(["-q", "--quiet"], is_flag=True, help="Only errors on stderr (no warnings)."),
)


class NegateGroup(click.Group):
    """A click group that configures logging (``-v``, ``-q``) and turns user errors into one-line
    messages."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.params += [copy.copy(option) for option in VERBOSITY_OPTIONS]

    def invoke(self, ctx: click.Context) -> Any:
        """Configure logging, then run the sub-command; known user errors become
        :class:`click.ClickException`."""
        configure_logging(ctx.params.pop("verbose", 0), ctx.params.pop("quiet", False))
        try:
            return super().invoke(ctx)
        except USER_ERRORS as err:
            raise click.ClickException(str(err).splitlines()[0] if str(err) else type(err).__name__) from None


def warn_plugin_failures() -> None:
    """Log one warning per plugin that failed to load or register."""
    from negate_sdk.plugins import get_host

    for info in get_host().failures():
        logger.warning("plugin '%s': %s (see 'negate-bench plugins')", info.name, info.error)


def emit(
    rows: Sequence[dict[str, Any]],
    columns: Sequence[str],
    *,
    as_json: bool,
    title: str | None = None,
    empty: str = "nothing to show",
) -> None:
    """Print ``rows`` as JSON (a list of objects) or as a rich table of ``columns``."""
    if as_json:
        click.echo(json.dumps(list(rows), indent=2, default=str))
        return
    if not rows:
        click.echo(empty)
        return
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table(title=title and Text(printable(title)), show_lines=False, header_style="bold")
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:  # Text, not markup: '[q95]' in a name stays as written, escape codes are shown escaped
        table.add_row(*(Text(_cell(row.get(column))) for column in columns))
    # Piped output has no terminal width; 120 columns keeps names and descriptions readable.
    width = None if sys.stdout.isatty() else 120
    Console(file=sys.stdout, width=width).print(table)


def _cell(value: Any) -> str:
    """A table cell as printable text (user-supplied names may hold escape codes or undecodable bytes);
    numbers to 4 decimals (JSON output keeps them whole)."""
    if value is None:
        return ""
    if isinstance(value, float):
        return str(round(value, 4))
    if isinstance(value, (list, tuple)):
        return ", ".join(printable(str(v)) for v in value)
    return printable(str(value))


def parse_params(values: tuple[str, ...]) -> dict[str, Any]:
    """``key=value`` strings to a dict; a value is parsed as JSON when it can be (``0.1``, ``true``)."""
    params: dict[str, Any] = {}
    for item in values:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"'{item}' is not KEY=VALUE", param_hint="--param")
        try:
            params[key.strip()] = json.loads(raw)
        except json.JSONDecodeError:
            params[key.strip()] = raw
    return params
