"""``negate-bench cache``: what the feature store holds, and clearing it."""

from __future__ import annotations

import click

from negate_sdk.cli._common import emit


@click.group("cache")
def cache_group() -> None:
    """Inspect or clear the feature store (--cache-dir, else $NEGATE_CACHE_DIR, else the user cache)."""


@cache_group.command("info")
@click.option(
    "--cache-dir",
    type=click.Path(file_okay=False),
    help="Feature store (default $NEGATE_CACHE_DIR or the user cache).",
)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list of objects instead of a table.")
def cache_info(cache_dir: str | None, as_json: bool) -> None:
    """Entries per extractor cache key, with their size on disk."""
    from negate_sdk.store import FeatureStore

    store = FeatureStore(cache_dir)
    rows = store.info()
    if not as_json:
        click.echo(f"feature store: {store.root}", err=True)
    emit(
        rows,
        ["cache_key", "extractor", "entries", "chunks", "bytes"],
        as_json=as_json,
        empty="the store is empty",
    )


@cache_group.command("clear")
@click.option(
    "--cache-dir",
    type=click.Path(file_okay=False),
    help="Feature store (default $NEGATE_CACHE_DIR or the user cache).",
)
@click.option("--key", help="Clear only this cache key.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def cache_clear(cache_dir: str | None, key: str | None, yes: bool) -> None:
    """Delete stored features (all, or one cache key)."""
    from negate_sdk.store import FeatureStore

    store = FeatureStore(cache_dir)
    if not yes:
        click.confirm(
            f"delete {'features of ' + key if key else 'all features'} in {store.root}?", abort=True
        )
    click.echo(f"removed {store.clear(key)} file(s) from {store.root}")
