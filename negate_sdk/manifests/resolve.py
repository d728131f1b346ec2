"""From what a user types after ``--dataset`` to a :class:`Manifest`.

``resolve_dataset`` accepts a registered dataset id (``openfake``, ``dev-cifake``), a folder of images
(``real/`` and ``synthetic/``, ``REAL``/``FAKE``, optionally under split folders), a folder holding a
``manifest.csv``, or a CSV/TSV/Parquet table. A registered id wins over a folder of the same name; write
``./name`` for the folder.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from negate_sdk.manifests.errors import DatasetUnavailableError, ManifestError
from negate_sdk.manifests.manifest import Manifest

TABLE_NAMES = ("manifest.csv", "manifest.parquet", "manifest.tsv")


class DatasetFactory:
    """The registry factory of one dataset id defined by a TOML spec (``datasets_manifest/<id>.toml``).

    Calling it loads the manifest; nothing is read when it is created, so registering is cheap.
    """

    def __init__(self, dataset_id: str, spec_path: str | os.PathLike[str]) -> None:
        self.dataset_id = dataset_id
        self.spec_path = Path(spec_path)
        self.__doc__ = f"Load the '{dataset_id}' manifest (spec {self.spec_path.name})."

    def __repr__(self) -> str:
        return f"DatasetFactory({self.dataset_id!r})"

    def __call__(
        self,
        data_dir: str | os.PathLike[str] | None = None,
        config: str | None = None,
        split: str | None = None,
        revision: str | None = None,
        sample: bool = False,
    ) -> Manifest:
        """The manifest of this dataset.

        ``data_dir``: the offline mirrors folder (default ``$NEGATE_DATA_DIR``); ``config`` and ``revision``:
        hub datasets only; ``split``: keep one split; ``sample``: use a tiny generated mirror in the dataset's
        exact layout (offline tests and demos; its labels mean nothing).
        """
        from negate_sdk.manifests.spec import load_spec

        spec = load_spec(self.spec_path)
        if spec.kind == "hf":
            from negate_sdk.manifests.hub import load_hf

            return load_hf(
                spec, data_dir=data_dir, config=config, split=split, revision=revision, sample=sample
            )
        for name, value in (("config", config), ("revision", revision)):
            if value is not None:
                raise ManifestError(f"dataset '{self.dataset_id}' is not a hub dataset: it takes no {name}")
        if spec.kind == "folder":
            manifest = _load_folder_spec(spec, data_dir, sample)
        else:
            manifest = _load_table_spec(spec, self.dataset_id, data_dir, sample)
        return keep_split(manifest, split)


def keep_split(manifest: Manifest, split: str | None) -> Manifest:
    """``manifest`` restricted to one split (recorded in its header); unchanged for None."""
    if split is None:
        return manifest
    if split not in manifest.splits():
        raise ManifestError(
            f"dataset '{manifest.id}' has no split '{split}' (splits: {', '.join(manifest.splits())})"
        )
    kept = manifest.filter(split=split)
    return Manifest(replace(kept.header, split=split), kept.rows)


def _spec_root(spec: Any, data_dir: str | os.PathLike[str] | None) -> Path:
    from negate_sdk.manifests import locate

    if spec.location == "dev":
        found = locate.dev_data_dir()
        if found is None:
            raise DatasetUnavailableError(
                f"dataset '{spec.id}': the dev image sets are not on this machine; set {locate.ENV_DEV_DATA} "
                f"to their folder (the one holding {locate.DEV_MANIFEST}) or run from the project root next "
                f"to {locate.DEV_DATA_RELATIVE}"
            )
        return found
    mirror = locate.mirror_dir(spec.id, data_dir)
    if mirror is None:
        how = f"; get them with: {spec.download}" if spec.download else ""
        raise DatasetUnavailableError(
            f"dataset '{spec.id}' is not available: {locate.mirror_hint(spec.id, data_dir)}{how}"
        )
    return mirror


def _load_folder_spec(spec: Any, data_dir: Any, sample: bool) -> Manifest:
    from negate_sdk.manifests.folder import load_folder

    if sample:
        from negate_sdk.manifests.samples import sample_mirror

        root = sample_mirror(spec)
    else:
        root = _spec_root(spec, data_dir)
    return load_folder(
        root,
        label_dirs=spec.label_dirs or None,
        source=spec.source or spec.id,
        synthetic_generator=spec.synthetic_generator,
        dataset_id=spec.id,
        header_fields={**spec.header_fields(), "origin": "sample" if sample else "mirror"},
    )


def _load_table_spec(spec: Any, dataset_id: str, data_dir: Any, sample: bool) -> Manifest:
    from negate_sdk.manifests.table import load_table

    if sample:
        raise ManifestError(f"dataset '{dataset_id}' is a local table: it has no sample mirror")
    root = _spec_root(spec, data_dir)
    origin = "local" if spec.location == "dev" else "mirror"
    table = root / (spec.file or "manifest.csv")
    manifest = load_table(table, dataset_id=spec.id, header_fields={**spec.header_fields(), "origin": origin})
    if dataset_id != spec.id:
        manifest = manifest.filter(**spec.subsets[dataset_id])
        manifest = Manifest(replace(manifest.header, id=dataset_id), manifest.rows)
    return manifest


def parse_label_dirs(text: str | None) -> dict[str, int] | None:
    """``"nature=real,ai=synthetic"`` (or ``=0``/``=1``) → ``{"nature": 0, "ai": 1}``; None for None."""
    from negate_sdk.manifests.schema import parse_label

    if text is None:
        return None
    table: dict[str, int] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, sep, value = part.partition("=")
        label = parse_label(value) if sep else None
        if not name.strip() or label is None:
            raise ManifestError(f"label folders must look like 'nature=real,ai=synthetic', got {part!r}")
        table[name.strip()] = label
    return table


def resolve_dataset(
    dataset: str | os.PathLike[str] | Manifest,
    *,
    data_dir: str | os.PathLike[str] | None = None,
    config: str | None = None,
    split: str | None = None,
    revision: str | None = None,
    label_dirs: Mapping[str, int] | None = None,
) -> Manifest:
    """The manifest of a registered dataset id, a folder of images, or a CSV/TSV/Parquet table.

    ``split`` keeps one split; ``config``, ``revision`` and ``data_dir`` apply to registered datasets;
    ``label_dirs`` names a folder's class folders (``{"nature": 0, "ai": 1}``). Raises
    :class:`ManifestError` (one line) for anything it cannot use and :class:`DatasetUnavailableError`
    when a registered dataset's files cannot be found.
    """
    if isinstance(dataset, Manifest):
        return keep_split(dataset, split)
    from negate_sdk.catalog import create_dataset, is_dataset, list_datasets
    from negate_sdk.registry import unknown_name_message

    name = os.fspath(dataset)
    if is_dataset(name):
        params = {"data_dir": data_dir, "config": config, "split": split, "revision": revision}
        return create_dataset(name, **{k: v for k, v in params.items() if v is not None})
    path = Path(name).expanduser()
    if not path.exists():
        message = unknown_name_message("dataset", name, list_datasets())
        raise ManifestError(f"{message}; it is not a folder or a CSV/Parquet file either")
    for option, value in (("config", config), ("revision", revision)):
        if value is not None:
            raise ManifestError(f"{option} applies to registered datasets, not to {path}")
    if path.is_dir():
        table = next((path / t for t in TABLE_NAMES if (path / t).is_file()), None)
        if table is not None and label_dirs is None:
            from negate_sdk.manifests.table import load_table

            manifest = load_table(table, dataset_id=path.resolve().name)
        else:
            from negate_sdk.manifests.folder import load_folder

            manifest = load_folder(path, label_dirs=label_dirs)
    else:
        from negate_sdk.manifests.table import load_table

        manifest = load_table(path)
    return keep_split(manifest, split)
