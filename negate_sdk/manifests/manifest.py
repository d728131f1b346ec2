"""A dataset as data: a :class:`ManifestHeader` and a list of :class:`ManifestRow`, with a content hash.

A manifest is immutable in use: :meth:`Manifest.filter` and :meth:`Manifest.sample` return new manifests
(their header records the selection), and :attr:`Manifest.content_hash` identifies the exact rows a result
was computed on. :meth:`Manifest.to_samples` turns rows into :class:`negate_sdk.Sample` objects lazily.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import replace
from functools import cached_property, partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from negate_sdk.api import Sample
from negate_sdk.manifests import sampling
from negate_sdk.manifests.errors import ManifestError
from negate_sdk.manifests.paths import path_problem, refuse
from negate_sdk.manifests.schema import ManifestHeader, ManifestRow

if TYPE_CHECKING:
    import pandas as pd

_COUNTABLE = ("label", "generator_id", "source", "split", "format")


def _as_set(value: Any) -> set[Any] | None:
    if value is None:
        return None
    if isinstance(value, (str, int)):
        return {value}
    return set(value)


class Manifest:
    """The rows of one dataset (metadata only) and the header that says what they are.

    ``rows`` is a plain ``list[ManifestRow]`` in the dataset's own order; ``header.root`` is the folder or
    ``hf://`` URL the locators are relative to.
    """

    def __init__(self, header: ManifestHeader, rows: Iterable[ManifestRow]) -> None:
        self.header = header
        self.rows: list[ManifestRow] = list(rows)

    # -- identity ----------------------------------------------------------------------------------

    @property
    def id(self) -> str:
        """The dataset id (``header.id``)."""
        return self.header.id

    @property
    def root(self) -> str:
        """The folder or ``hf://`` URL locators are relative to."""
        return self.header.root

    @cached_property
    def content_hash(self) -> str:
        """sha256 (hex) over the header essentials and the canonical rows sorted by ``sample_id``.

        It identifies the rows, not the route to them: a mirror and the hub, or ``dev-faces`` and ``dev``
        filtered to ``faces``, give the same hash when they give the same rows.
        """
        digest = hashlib.sha256()
        essentials = sorted(self.header.essentials().items())
        digest.update(repr(essentials).encode())
        for row in sorted(self.rows, key=lambda r: r.sample_id):
            # surrogateescape: a locator naming a non-UTF-8 file hashes as the file name's own bytes
            digest.update(row.canonical().encode("utf-8", "surrogateescape"))
            digest.update(b"\n")
        return digest.hexdigest()

    def provenance(self) -> dict[str, Any]:
        """What a results file should cite: id, content hash, size, origin, revision and selection."""
        return {
            "dataset": self.header.id,
            "content_hash": self.content_hash,
            "n_rows": len(self.rows),
            "kind": self.header.kind,
            "origin": self.header.origin,
            "repo_id": self.header.repo_id,
            "revision": self.header.revision,
            "config": self.header.config,
            "split": self.header.split,
            "selection": list(self.header.selection),
        }

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self) -> Iterator[ManifestRow]:
        return iter(self.rows)

    def __repr__(self) -> str:
        return f"Manifest(id={self.header.id!r}, rows={len(self.rows)}, splits={self.splits()})"

    # -- counts ------------------------------------------------------------------------------------

    def counts(self, by: str) -> dict[str, int]:
        """Number of rows per value of one field (``label``, ``generator_id``, ``source``, ``split``,
        ``format``), sorted by value; a missing value counts under ``"?"``."""
        if by not in _COUNTABLE:
            raise ValueError(f"cannot count by {by!r}; choose one of {', '.join(_COUNTABLE)}")
        found = Counter("?" if getattr(r, by) is None else str(getattr(r, by)) for r in self.rows)
        return dict(sorted(found.items()))

    def splits(self) -> dict[str, int]:
        """``{split: number of rows}``."""
        return self.counts("split")

    # -- selection ---------------------------------------------------------------------------------

    def _derive(self, rows: list[ManifestRow], step: str) -> Manifest:
        header = replace(self.header, selection=(*self.header.selection, step))
        return Manifest(header, rows)

    def filter(
        self,
        *,
        split: str | Iterable[str] | None = None,
        source: str | Iterable[str] | None = None,
        generator: str | Iterable[str] | None = None,
        label: int | Iterable[int] | None = None,
    ) -> Manifest:
        """The rows matching every given field (each a value or a collection of values)."""
        wanted = {
            "split": _as_set(split),
            "source": _as_set(source),
            "generator_id": _as_set(generator),
            "label": _as_set(label),
        }
        active = {k: v for k, v in wanted.items() if v is not None}
        rows = [r for r in self.rows if all(getattr(r, k) in v for k, v in active.items())]
        described = ", ".join(f"{k}={sorted(map(str, v))}" for k, v in active.items())
        return self._derive(rows, f"filter({described})")

    def sample(
        self,
        limit: int | None = None,
        *,
        per_generator: int | None = None,
        seed: int = 0,
        stratify: Sequence[str] = ("label", "source", "generator_id"),
    ) -> Manifest:
        """A deterministic subset: at most ``per_generator`` rows per generator id (reals are generator
        ``"none"``), then at most ``limit`` rows allocated to the ``stratify`` groups in proportion to their
        sizes. Rows keep the manifest's order; see :mod:`negate_sdk.manifests.sampling`."""
        unknown = [name for name in stratify if name not in ManifestRow.__dataclass_fields__]
        if unknown:
            raise ManifestError(f"cannot stratify by {', '.join(unknown)}: not a manifest row field")
        kept = sampling.select(
            self.rows, limit=limit, per_generator=per_generator, seed=seed, stratify=stratify
        )
        step = f"sample(limit={limit}, per_generator={per_generator}, seed={seed}, stratify={list(stratify)})"
        return self._derive([self.rows[i] for i in kept], step)

    # -- samples -----------------------------------------------------------------------------------

    def to_sample(self, row: ManifestRow, *, trust_sha256: bool = True) -> Sample:
        """The :class:`negate_sdk.Sample` of one row; nothing is read until its bytes or pixels are used.

        ``label``, ``generator`` (the generator id), ``source`` and ``split`` come from the row; ``attrs``
        holds the row's attrs plus ``uses_clip`` and ``generator_family`` from the generator table. With
        ``trust_sha256`` the row's sha256 (checked by ``negate-bench validate``) is used as the sample's
        content hash, so cached features can be found without reading the file.
        """
        from negate_sdk.manifests.generators import get_generator

        info = get_generator(row.generator_id)
        fields: dict[str, Any] = {
            "id": row.sample_id,
            "label": row.label,
            "generator": row.generator_id,
            "source": row.source,
            "split": row.split,
            "attrs": {**row.attrs, "uses_clip": info.uses_clip, "generator_family": info.family},
            "sha256": row.sha256 if trust_sha256 else None,
        }
        if self.header.locator_scheme == "parquet-row":
            from negate_sdk.manifests.parquet_images import ParquetRowSample

            column = self.header.column_map.get("image", "image")
            return ParquetRowSample(root=self.root, locator=row.locator, column=column, **fields)
        path = self.resolve_path(row)
        problem = path_problem(path)
        if problem is not None:  # e.g. a NUL byte in a table cell: this row fails alone, with the reason
            return Sample(loader=partial(refuse, str(path), problem), **fields)
        return Sample.from_path(path, **fields)

    def to_samples(self, *, trust_sha256: bool = True) -> Iterator[Sample]:
        """One lazy :class:`negate_sdk.Sample` per row, in order (no image is held by the iterator)."""
        for row in self.rows:
            yield self.to_sample(row, trust_sha256=trust_sha256)

    def resolve_path(self, row: ManifestRow) -> Path:
        """The file of a row's ``path`` locator (absolute locators are kept as they are)."""
        return self.locator_path(row.locator)

    def locator_path(self, locator: str) -> Path:
        """The file a ``path`` locator names: relative to :attr:`root`, or absolute."""
        if self.header.locator_scheme != "path":
            raise ManifestError(f"manifest '{self.header.id}' stores images in Parquet rows, not files")
        path = Path(locator)
        return path if path.is_absolute() else Path(self.root) / path

    # -- tables ------------------------------------------------------------------------------------

    def to_records(self) -> list[dict[str, Any]]:
        """The rows as dictionaries with the canonical field names."""
        return [row.to_dict() for row in self.rows]

    def to_frame(self) -> pd.DataFrame:
        """The rows as a pandas DataFrame, joined with the generator table (``uses_clip``, ``family``)."""
        import pandas as pd

        from negate_sdk.manifests.generators import get_generator

        frame = pd.DataFrame(self.to_records())
        if len(frame):
            infos = {g: get_generator(g) for g in frame["generator_id"].unique()}
            frame["uses_clip"] = frame["generator_id"].map(lambda g: infos[g].uses_clip)
            frame["generator_family"] = frame["generator_id"].map(lambda g: infos[g].family)
        return frame
