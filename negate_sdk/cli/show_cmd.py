"""``negate-bench show``: one component in detail, with its parameters."""

from __future__ import annotations

import inspect
import json
from typing import Any

import click

from negate_sdk.cli._common import emit
from negate_sdk.cli.list_cmd import resolve_kind


def factory_parameters(factory: Any) -> list[dict[str, Any]]:
    """Keyword parameters of a factory with their defaults (``required`` when there is none)."""
    try:
        signature = inspect.signature(factory)
    except (TypeError, ValueError):
        return []
    params = []
    for param in signature.parameters.values():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        default = "required" if param.default is inspect.Parameter.empty else repr(param.default)
        params.append({"parameter": param.name, "default": default})
    return params


@click.command("show")
@click.argument("kind")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON object instead of text.")
def show_command(kind: str, name: str, as_json: bool) -> None:
    """Show one registered component of KIND: its plugin, description and parameters (imports it)."""
    from negate_sdk.catalog import get_registry

    entry = get_registry(resolve_kind(kind)).get(name)
    info = entry.to_dict()
    factory = entry.load()
    info["parameters"] = factory_parameters(factory)
    info["doc"] = inspect.getdoc(factory) or ""
    if as_json:
        click.echo(json.dumps(info, indent=2, default=str))
        return
    click.echo(f"{entry.kind} {entry.name}  (plugin {entry.plugin}, {entry.factory_path})")
    if info["doc"]:
        click.echo(info["doc"])
    emit(info["parameters"], ["parameter", "default"], as_json=False, empty="no parameters")
