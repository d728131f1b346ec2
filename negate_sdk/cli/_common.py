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

    table = Table(title=title, show_lines=False, header_style="bold")
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*(_cell(row.get(column)) for column in columns))
    # Piped output has no terminal width; 120 columns keeps names and descriptions readable.
    width = None if sys.stdout.isatty() else 120
    Console(file=sys.stdout, width=width).print(table)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value)
    return str(value)


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
