"""Hugging Face datasets stored as Parquet (OpenFake, Defactify, WikiArt, CIFAKE mirrors) as manifests.

The files of a configuration's splits are found, in this order, in an offline mirror
(``$NEGATE_DATA_DIR/<id>``, laid out like the hub repository), in the Hugging Face cache (files fetched
earlier with ``huggingface_hub``), or on the hub itself (read remotely, only the columns needed). The
metadata columns (label, generator, attrs) are streamed with the ``datasets`` library, one file at a time,
without the image column; images are read later, one row at a time (see
:mod:`negate_sdk.manifests.parquet_images`).
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from negate_sdk.manifests import locate
from negate_sdk.manifests.columns import RowMapping
from negate_sdk.manifests.errors import DatasetUnavailableError, ManifestError
from negate_sdk.manifests.manifest import Manifest
from negate_sdk.manifests.parquet_images import HF_SCHEME, open_binary
from negate_sdk.manifests.schema import (
    DEFAULT_SPLIT,
    ManifestHeader,
    ManifestRow,
)

if TYPE_CHECKING:
    from negate_sdk.manifests.spec import DatasetSpec

BATCH_ROWS = 4096


@dataclass
class Location:
    """Where the Parquet files of the requested splits are: ``root`` and paths relative to it."""

    root: str
    files: dict[str, list[str]]
    origin: str  # mirror | hf-cache | hub | sample | local
    revision: str | None = None


def _match(relpaths: list[str], patterns: tuple[str, ...]) -> list[str]:
    return sorted(p for p in relpaths if any(fnmatch.fnmatchcase(p, pattern) for pattern in patterns))


def _local_files(root: Path) -> list[str]:
    found = []
    for current, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if not d.startswith(".")]  # skips .cache/huggingface bookkeeping
        found += [(Path(current) / name).relative_to(root).as_posix() for name in files]
    return found


def _files_by_split(relpaths: list[str], splits: Mapping[str, tuple[str, ...]]) -> dict[str, list[str]]:
    return {split: _match(relpaths, patterns) for split, patterns in splits.items()}


def _mirror_revision(root: Path, relpaths: list[str]) -> str | None:
    """The commit a ``huggingface_hub`` local-dir download recorded for these files, if one and the same."""
    commits = set()
    for relpath in relpaths:
        metadata = root / ".cache" / "huggingface" / "download" / f"{relpath}.metadata"
        if metadata.is_file():
            commits.add(metadata.read_text().split("\n", 1)[0].strip())
    return commits.pop() if len(commits) == 1 else None


def _describe_patterns(splits: Mapping[str, tuple[str, ...]]) -> str:
    return ", ".join(p for patterns in splits.values() for p in patterns)


def locate_files(
    spec: DatasetSpec,
    splits: Mapping[str, tuple[str, ...]],
    *,
    data_dir: str | os.PathLike[str] | None = None,
    revision: str | None = None,
    sample: bool = False,
) -> Location:
    """Find the files of ``splits`` (split → file patterns): mirror, then cache, then hub; else raise
    :class:`DatasetUnavailableError` saying where to put them."""
    if sample:
        from negate_sdk.manifests.samples import sample_mirror

        root = sample_mirror(spec)
        return Location(str(root), _files_by_split(_local_files(root), splits), "sample", "sample")
    mirror = locate.mirror_dir(spec.id, data_dir)
    if mirror is not None:
        relpaths = _local_files(mirror)
        files = _files_by_split(relpaths, splits)
        empty = [s for s, f in files.items() if not f]
        if empty:
            raise DatasetUnavailableError(
                f"the mirror {mirror} of '{spec.id}' has no files for split(s) {', '.join(empty)} "
                f"(expected {_describe_patterns({s: splits[s] for s in empty})} relative to it)"
            )
        commit = _mirror_revision(mirror, [f for fs in files.values() for f in fs])
        return Location(str(mirror), files, "mirror", commit)
    wanted_revision = revision or spec.revision
    cached = _from_hf_cache(spec, splits, wanted_revision)
    if cached is not None:
        return cached
    reason = "the hub is offline (HF_HUB_OFFLINE)" if locate.hub_offline() else ""
    if not reason:
        try:
            return _from_hub(spec, splits, wanted_revision)
        except DatasetUnavailableError:
            raise
        except Exception as err:  # network and hub errors come in many types
            first = str(err).splitlines()[0] if str(err) else ""
            reason = f"the hub is unreachable ({type(err).__name__}: {first})"
    how = f"; get them with: {spec.download}" if spec.download else ""
    raise DatasetUnavailableError(
        f"dataset '{spec.id}' is not available offline: no mirror, not in the Hugging Face cache, "
        f"and {reason}; "
        f"{locate.mirror_hint(spec.id, data_dir)} laid out like the repo {spec.repo_id} "
        f"({_describe_patterns(splits)}){how}"
    )


def _from_hf_cache(
    spec: DatasetSpec, splits: Mapping[str, tuple[str, ...]], revision: str
) -> Location | None:
    try:
        from huggingface_hub import snapshot_download

        snapshot = Path(
            snapshot_download(spec.repo_id, repo_type="dataset", revision=revision, local_files_only=True)
        )
    except Exception:  # not cached (or huggingface_hub missing): try the next place
        return None
    files = _files_by_split(_local_files(snapshot), splits)
    if not all(files.values()):
        return None
    return Location(str(snapshot), files, "hf-cache", snapshot.name)


def _from_hub(spec: DatasetSpec, splits: Mapping[str, tuple[str, ...]], revision: str) -> Location:
    from urllib.parse import quote

    from huggingface_hub import HfApi

    info = HfApi().dataset_info(spec.repo_id, revision=revision)
    relpaths = [s.rfilename for s in info.siblings or []]
    files = _files_by_split(relpaths, splits)
    empty = [s for s, f in files.items() if not f]
    if empty:
        raise ManifestError(
            f"the hub repo {spec.repo_id}@{revision} has no files matching "
            f"{_describe_patterns({s: splits[s] for s in empty})}: the layout changed; "
            f"update {spec.path.name}"
        )
    root = f"{HF_SCHEME}datasets/{spec.repo_id}@{quote(info.sha or revision, safe='')}"
    return Location(root, files, "hub", info.sha)


def _features(root: str, relpath: str) -> Any:
    import datasets
    import pyarrow.parquet as pq

    try:
        with open_binary(root, relpath) as handle:
            schema = pq.read_schema(handle)
    except FileNotFoundError:
        raise DatasetUnavailableError(f"file not found: {relpath} (under {root})") from None
    except Exception as err:
        raise ManifestError(
            f"cannot read the Parquet schema of {relpath}: {str(err).splitlines()[0]}"
        ) from None
    return datasets.Features.from_arrow_schema(schema)


def _stream(root: str, relpath: str, columns: list[str]) -> Iterator[dict[str, list[Any]]]:
    """Batches of the given columns of one Parquet file, streamed with the ``datasets`` library."""
    import datasets

    url = f"{root}/{relpath}" if root.startswith(HF_SCHEME) else str(Path(root) / relpath)
    stream = datasets.load_dataset(
        "parquet", data_files={"rows": [url]}, split="rows", streaming=True, columns=columns
    )
    yield from stream.iter(batch_size=BATCH_ROWS)


def read_rows(root: str, relpath: str, mapping: RowMapping, split: str, source: str) -> list[ManifestRow]:
    """The canonical rows of one Parquet file (metadata columns only)."""
    mapping.prepare(_features(root, relpath), relpath)
    columns = mapping.columns()
    rows: list[ManifestRow] = []
    if not columns:  # a constant-label dataset without attrs: only the row count is needed
        import pyarrow.parquet as pq

        with open_binary(root, relpath) as handle:
            n = pq.ParquetFile(handle).metadata.num_rows
        return list(mapping.rows({}, n, 0, relpath, split, source))
    start = 0
    for batch in _stream(root, relpath, columns):
        n = len(batch[columns[0]])
        rows.extend(mapping.rows(batch, n, start, relpath, split, source))
        start += n
    return rows


def _require_datasets() -> None:
    try:
        import datasets  # noqa: F401
    except ImportError:
        raise ManifestError(
            "reading Hugging Face datasets needs the 'datasets' package: pip install 'negate-sdk[hub]'"
        ) from None


def load_hf(
    spec: DatasetSpec,
    *,
    data_dir: str | os.PathLike[str] | None = None,
    config: str | None = None,
    split: str | None = None,
    revision: str | None = None,
    sample: bool = False,
) -> Manifest:
    """The manifest of a hub dataset spec: one configuration, all its splits or one of them."""
    _require_datasets()
    config = config or spec.default_config
    if config not in spec.configs:
        raise ManifestError(
            f"dataset '{spec.id}' has no config '{config}' (configs: {', '.join(spec.configs)})"
        )
    config_spec = spec.configs[config]
    if split is not None and split not in config_spec.splits:
        raise ManifestError(
            f"config '{config}' of '{spec.id}' has no split '{split}' "
            f"(splits: {', '.join(config_spec.splits)})"
        )
    splits = {s: p for s, p in config_spec.splits.items() if split is None or s == split}
    location = locate_files(spec, splits, data_dir=data_dir, revision=revision, sample=sample)
    mapping = RowMapping.from_spec(spec)
    rows: list[ManifestRow] = []
    for split_name, relpaths in location.files.items():
        for relpath in relpaths:
            rows.extend(read_rows(location.root, relpath, mapping, split_name, config_spec.source))
    warnings = mapping.check(spec.id)
    header = ManifestHeader(
        id=spec.id,
        kind="hf",
        root=location.root,
        locator_scheme="parquet-row",
        repo_id=spec.repo_id,
        revision=location.revision,
        config=config,
        split=split,
        origin=location.origin,
        label_map=dict(sorted({**spec.labels, **mapping.seen_labels}.items())),
        generator_map=dict(sorted(mapping.seen_generators.items())),
        column_map=_column_map(mapping, spec.image_column),
        warnings=tuple(warnings),
        **spec.header_fields(),
    )
    return Manifest(header, rows)


def _column_map(mapping: RowMapping, image_column: str) -> dict[str, str]:
    columns = {"image": image_column, "label": mapping.label_column or f"(constant {mapping.constant_label})"}
    if mapping.generator_column:
        columns["generator"] = mapping.generator_column
    if mapping.attr_columns:
        columns["attrs"] = ", ".join(mapping.attr_columns)
    columns.update(mapping.extra_columns)
    return columns


def load_embedded_parquet(
    path: Path,
    *,
    dataset_id: str | None = None,
    source: str | None = None,
    header_fields: Mapping[str, Any] | None = None,
) -> Manifest:
    """A local Parquet file whose ``image`` column holds the images (a ``datasets`` export).

    Columns: ``label`` (words or 0/1, or a ClassLabel of such names), optional ``generator``, ``source``,
    ``split``.
    """
    _require_datasets()
    features = _features(str(path.parent), path.name)
    if "label" not in features:
        raise ManifestError(f"{path.name} has an image column but no 'label' column")
    extra = {k: k for k in ("source", "split") if k in features}
    mapping = RowMapping(
        dataset_id=dataset_id or path.stem,
        label_column="label",
        generator_column="generator" if "generator" in features else None,
        generic_labels=True,
        extra_columns=extra,
    )
    rows = read_rows(str(path.parent), path.name, mapping, DEFAULT_SPLIT, source or path.parent.name)
    header = ManifestHeader(
        id=dataset_id or path.stem,
        kind="parquet",
        root=str(path.parent),
        locator_scheme="parquet-row",
        label_map=dict(sorted(mapping.seen_labels.items())),
        generator_map=dict(sorted(mapping.seen_generators.items())),
        column_map=_column_map(mapping, "image"),
        warnings=tuple(mapping.check(path.name)),
        **dict(header_fields or {}),
    )
    return Manifest(header, rows)
