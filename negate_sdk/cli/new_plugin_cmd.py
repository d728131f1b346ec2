"""``negate-bench new-plugin``: write a ready-to-install plugin package to start from."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import click

from negate_sdk.safetext import path_text


def write_plugin(name: str, output: str | os.PathLike[str]) -> Path:
    """Write the plugin package ``name`` into a new folder of ``output`` and return that folder.

    The files are written into a staging folder beside it, renamed into place at the end: an existing
    file or folder of that name is refused (``FileExistsError``) and never touched, and a failure leaves
    nothing behind.
    """
    from negate_sdk.plugin_template import plugin_files, plugin_names

    files = plugin_files(name)
    target = Path(output) / plugin_names(name)["dist"]
    if os.path.lexists(target):
        raise FileExistsError(f"{path_text(target)} already exists; choose another name or --output")
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=output))
    try:
        for relative, text in files.items():
            path = staging / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        if os.path.lexists(target):  # appeared while writing: still never replaced
            raise FileExistsError(f"{path_text(target)} already exists; choose another name or --output")
        staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


@click.command("new-plugin")
@click.argument("name")
@click.option(
    "--output",
    type=click.Path(exists=True, file_okay=False, writable=True),
    default=".",
    show_default=True,
    help="Folder to create the plugin's folder in.",
)
def new_plugin_command(name: str, output: str) -> None:
    """Write a plugin package NAME: an extractor, a recipe, a conformance test and the entry point."""
    try:
        target = write_plugin(name, output)
    except (ValueError, FileExistsError) as err:
        raise click.ClickException(str(err)) from None
    click.echo(f"wrote {path_text(target)}; install it with: pip install -e {path_text(target)}")
