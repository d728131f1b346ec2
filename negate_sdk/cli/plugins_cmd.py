"""``negate-bench plugins``: installed plugins, their versions, hooks and errors."""

from __future__ import annotations

import click

from negate_sdk.cli._common import emit


@click.command("plugins")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list of objects instead of a table.")
def plugins_command(as_json: bool) -> None:
    """List plugins loaded through the 'negate' entry-point group, with any load errors."""
    from negate_sdk.plugins import get_host

    host = get_host()
    host.failures()  # run pending registrations so their errors are included
    rows = [info.to_dict() for info in sorted(host.plugins.values(), key=lambda i: (not i.builtin, i.name))]
    if not as_json:  # a table reads better with the common prefix dropped
        rows = [
            {
                **row,
                "hooks": [h.removeprefix("negate_") for h in row["hooks"]],
                "error": "blocked (NEGATE_BLOCK_PLUGINS)" if row["blocked"] else row["error"],
            }
            for row in rows
        ]
    emit(
        rows,
        ["name", "version", "distribution", "hooks", "error"],
        as_json=as_json,
        empty="no plugins loaded",
    )
