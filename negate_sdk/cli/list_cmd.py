"""``negate-bench list``: registered components, filtered with wildcards."""

from __future__ import annotations

import click

from negate_sdk.cli._common import emit, warn_plugin_failures
from negate_sdk.registry import KINDS, PLURALS, suggest

_KIND_BY_WORD = {**{k: k for k in KINDS}, **{p: k for k, p in PLURALS.items()}}


def resolve_kind(word: str) -> str:
    """``'detectors'`` or ``'detector'`` to ``'detector'``; a click error suggesting the closest otherwise."""
    word = word.lower()
    if word in _KIND_BY_WORD:
        return _KIND_BY_WORD[word]
    hints = suggest(word, list(PLURALS.values()), n=1)
    hint = f"; did you mean '{hints[0]}'?" if hints else ""
    raise click.BadParameter(f"unknown kind '{word}' (one of: {', '.join(PLURALS.values())}, all){hint}")


@click.command("list")
@click.argument("kind", required=False, default="all")
@click.argument("filter", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list of objects instead of a table.")
def list_command(kind: str, filter: str | None, as_json: bool) -> None:
    """List registered components of KIND (extractors, classifiers, vetoes, detectors, datasets, all).

    FILTER is a shell pattern ('clip_*'); a bare word is that name, or else every name containing it.
    """
    from negate_sdk.catalog import get_registry

    kinds = KINDS if kind.lower() == "all" else (resolve_kind(kind),)
    rows = []
    for name in kinds:
        for entry in get_registry(name).entries(filter):
            row = entry.to_dict()
            row["requires"] = entry.metadata.get("requires")
            if entry.metadata.get("pretrained"):  # published weights: what they are and what they saw
                row["pretrained"] = f"{entry.metadata.get('licence') or '?'}; trained on " + ", ".join(
                    entry.metadata.get("trained_on") or ["?"]
                )
            rows.append(row)
    warn_plugin_failures()
    what = "components" if len(kinds) > 1 else PLURALS[kinds[0]]
    empty = f"no {what} match '{filter}'" if filter else f"no {what} registered"
    columns = ["name", "kind", "plugin", "description"]
    if any(row["requires"] for row in rows):
        columns.append("requires")
    if any(row.get("pretrained") for row in rows):
        columns.append("pretrained")
    emit(rows, columns, as_json=as_json, empty=empty)
