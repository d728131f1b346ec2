"""What every command shares: one-line errors, plugin warnings, and table-or-JSON output."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any

import click

from negate_sdk.artifacts import ArtifactError
from negate_sdk.imaging import ImageError
from negate_sdk.manifests.errors import ManifestError
from negate_sdk.registry import RegistryError
from negate_sdk.safetext import printable

POSITIVE = click.IntRange(min=1)


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


class NegateGroup(click.Group):
    """A click group whose commands turn user errors into one-line messages."""

    def invoke(self, ctx: click.Context) -> Any:
        """Run the sub-command; known user errors become :class:`click.ClickException`."""
        try:
            return super().invoke(ctx)
        except USER_ERRORS as err:
            raise click.ClickException(str(err).splitlines()[0] if str(err) else type(err).__name__) from None


def warn_plugin_failures() -> None:
    """Print one warning line per plugin that failed to load or register (to stderr)."""
    from negate_sdk.plugins import get_host

    for info in get_host().failures():
        click.echo(f"warning: plugin '{info.name}': {info.error} (see 'negate-bench plugins')", err=True)


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
    """A table cell as printable text (user-supplied names may hold escape codes or undecodable bytes)."""
    if value is None:
        return ""
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
