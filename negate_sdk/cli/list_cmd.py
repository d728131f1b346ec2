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


def _unknown_word(word: str, plugins: list[str]) -> click.BadParameter:
    """The error for one word that is no kind, no plugin and selects no component, with close matches."""
    from negate_sdk.catalog import get_registry

    names = [n for kind in KINDS for n in get_registry(kind).names()]
    hints = suggest(word, [*PLURALS.values(), "all", *plugins, *names])
    if hints:
        hint = "; did you mean " + " or ".join(f"'{h}'" for h in hints) + "?"
    else:
        hint = f" (kinds: {', '.join(PLURALS.values())}, all; plugins: 'negate-bench plugins')"
    return click.BadParameter(f"'{word}' is not a kind, a plugin or a component name{hint}")


@click.command("list")
@click.argument("kind", required=False, default="all")
@click.argument("filter", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list of objects instead of a table.")
def list_command(kind: str, filter: str | None, as_json: bool) -> None:
    """List registered components of KIND (extractors, classifiers, vetoes, detectors, datasets, all).

    FILTER is a shell pattern ('clip_*'); a bare word is that name, or else every name containing it.
    Given one word that is not a kind, the components of the plugin of that name are listed, or else
    those the word selects as a FILTER.
    """
    from negate_sdk.catalog import get_registry
    from negate_sdk.plugins import get_host

    word, plugin, guessed = kind.lower(), None, False
    if word == "all":
        kinds = KINDS
    elif word in _KIND_BY_WORD or filter is not None:
        kinds = (resolve_kind(word),)
    else:  # one word that is no kind: a plugin's name, else a filter over every kind
        kinds, guessed = KINDS, True
        plugins = sorted(get_host().plugins)
        if word in plugins:
            plugin = word
        else:
            filter = kind
    rows = []
    for name in kinds:
        for entry in get_registry(name).entries(filter):
            if plugin is not None and entry.plugin != plugin:
                continue
            row = entry.to_dict()
            row["requires"] = entry.metadata.get("requires")
            if entry.metadata.get("pretrained"):  # published weights: what they are and what they saw
                row["pretrained"] = f"{entry.metadata.get('licence') or '?'}; trained on " + ", ".join(
                    entry.metadata.get("trained_on") or ["?"]
                )
            rows.append(row)
    if guessed and plugin is None and not rows:
        raise _unknown_word(word, plugins)
    warn_plugin_failures()
    what = "components" if len(kinds) > 1 else PLURALS[kinds[0]]
    if plugin is not None:
        empty = f"plugin '{plugin}' registers no components"
    else:
        empty = f"no {what} match '{filter}'" if filter else f"no {what} registered"
    columns = ["name", "kind", "plugin", "description"]
    if any(row["requires"] for row in rows):
        columns.append("requires")
    if any(row.get("pretrained") for row in rows):
        columns.append("pretrained")
    emit(rows, columns, as_json=as_json, empty=empty)
