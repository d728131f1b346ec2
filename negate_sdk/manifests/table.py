"""CSV and Parquet tables of image paths as manifests (the dev sets' ``manifest.csv`` is one).

Columns: ``path`` (relative to the table's folder, or absolute) and ``label`` (``real``/``synthetic``,
``fake``, or ``0``/``1``) are required; ``generator`` (free text, normalised through the generator table;
``none`` for reals), ``source`` (default: the table's folder name), ``split`` (default ``"all"``),
``sample_id`` (default: the path), ``sha256``, ``width``, ``height`` and ``format`` are optional. Every other
column is kept, as text, in each row's ``attrs`` (the dev sets keep their per-row ``license`` there).

A Parquet file with an ``image`` column (Hugging Face's struct of ``bytes`` and ``path``) and no ``path``
column is read as images stored in the table (see :mod:`negate_sdk.manifests.hub`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from negate_sdk.manifests.errors import ManifestError
from negate_sdk.manifests.generators import normalise_generator
from negate_sdk.manifests.manifest import Manifest
from negate_sdk.manifests.paths import message_path, path_problem
from negate_sdk.manifests.schema import (
    DEFAULT_SPLIT,
    REAL_GENERATOR,
    UNKNOWN_GENERATOR,
    ManifestHeader,
    ManifestRow,
    is_sha256,
    parse_label,
)
from negate_sdk.safetext import path_text, printable

REQUIRED = ("path", "label")
CANONICAL = (
    "path",
    "label",
    "generator",
    "source",
    "split",
    "sample_id",
    "sha256",
    "width",
    "height",
    "format",
)
TABLE_SUFFIXES = {".csv": "csv", ".tsv": "csv", ".parquet": "parquet"}


def _read(path: Path) -> Any:
    import pandas as pd

    try:
        if path.suffix.lower() == ".parquet":
            frame = pd.read_parquet(path)
        else:
            sep = "\t" if path.suffix.lower() == ".tsv" else ","
            # object cells and surrogateescape: a path written in another encoding (Latin-1 file names)
            # still names its file, instead of failing the whole table
            frame = pd.read_csv(
                path, dtype=object, keep_default_na=False, sep=sep, encoding_errors="surrogateescape"
            )
    except FileNotFoundError:
        raise ManifestError(f"table not found: {message_path(path)}") from None
    except Exception as err:  # pandas/pyarrow raise many types on malformed files
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise ManifestError(f"cannot read {path_text(path.name)}: {printable(first)}") from None
    frame.columns = [printable(str(c).strip()) for c in frame.columns]
    return frame


def _utf8(text: str) -> str:
    """``text`` unchanged when it is valid UTF-8 (free text keeps its line breaks); else made printable."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # bytes of another encoding, kept by surrogateescape
        return printable(text)
    return text


def _size(value: Any, column: str, row: int, name: str) -> int | None:
    text = str(value).strip()
    if text in ("", "nan", "None"):
        return None
    try:
        number = int(float(text))
    except ValueError:
        raise ManifestError(f"{name} row {row}: {column} {text!r} is not a whole number") from None
    if number <= 0 or number != float(text):
        raise ManifestError(f"{name} row {row}: {column} {text!r} is not a positive whole number")
    return number


def load_table(
    path: str | os.PathLike[str],
    *,
    source: str | None = None,
    dataset_id: str | None = None,
    header_fields: Mapping[str, Any] | None = None,
) -> Manifest:
    """A manifest from a CSV/TSV/Parquet table of image paths (see the module docstring for columns)."""
    path = Path(path).expanduser().resolve()
    kind = TABLE_SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise ManifestError(f"{path_text(path.name)}: a table must be .csv, .tsv or .parquet")
    frame = _read(path)
    if kind == "parquet" and "path" not in frame.columns and "image" in frame.columns:
        from negate_sdk.manifests.hub import load_embedded_parquet

        return load_embedded_parquet(path, dataset_id=dataset_id, source=source, header_fields=header_fields)
    missing = [c for c in REQUIRED if c not in frame.columns]
    if missing:
        raise ManifestError(
            f"{path_text(path.name)} lacks column(s) {', '.join(missing)} "
            f"(it has: {', '.join(map(str, frame.columns))})"
        )
    name = path_text(path.name)
    default_source = source or printable(path.parent.name)
    extra = [c for c in frame.columns if c not in CANONICAL]
    records = frame.to_dict("records")
    rows: list[ManifestRow] = []
    bad_labels: dict[str, int] = {}
    generator_map: dict[str, str] = {}
    label_map: dict[str, int] = {}
    unopenable: dict[str, list[str]] = {}  # reason -> "row N: path" of rows kept but marked unreadable
    for number, record in enumerate(records, start=2):  # row 1 is the CSV header
        raw_label = str(record["label"]).strip()
        label = parse_label(raw_label)
        if label is None:
            bad_labels[raw_label] = bad_labels.get(raw_label, number)
            continue
        label_map[raw_label] = label
        raw_generator = str(record.get("generator", "") or "").strip()
        if label == 0:
            generator = REAL_GENERATOR
        else:
            generator = normalise_generator(raw_generator) if raw_generator else UNKNOWN_GENERATOR
            if generator == REAL_GENERATOR:
                generator = UNKNOWN_GENERATOR  # a synthetic row saying "none" has no known generator
            generator_map[printable(raw_generator) or "(empty)"] = generator
        locator = str(record["path"]).strip()
        if not locator:
            raise ManifestError(f"{name} row {number}: empty path")
        sha256 = str(record.get("sha256", "") or "").strip().lower() or None
        if sha256 is not None and not is_sha256(sha256):
            raise ManifestError(f"{name} row {number}: sha256 {sha256!r} is not 64 hex digits")
        image_format = printable(str(record.get("format", "") or "").strip().upper()) or None
        locator = Path(locator).as_posix()
        problem = path_problem(Path(path.parent, locator))
        if problem is not None:  # kept: reading it fails with this reason, the other rows go on
            unopenable.setdefault(problem, []).append(f"row {number}: {message_path(locator)}")
        rows.append(
            ManifestRow(
                sample_id=printable(str(record.get("sample_id") or locator)),
                locator=locator,
                label=label,
                generator_id=generator,
                source=printable(str(record.get("source") or default_source)),
                split=printable(str(record.get("split") or DEFAULT_SPLIT)),
                width=_size(record.get("width", ""), "width", number, name),
                height=_size(record.get("height", ""), "height", number, name),
                format=image_format,
                sha256=sha256,
                attrs={c: _utf8(str(record[c])) for c in extra if str(record[c]) != ""},
            )
        )
    if bad_labels:
        shown = ", ".join(f"{v!r} (row {r})" for v, r in list(bad_labels.items())[:3])
        raise ManifestError(f"{name}: label must be real/synthetic/fake or 0/1; found {shown}")
    if not rows:
        raise ManifestError(f"{name} has no rows")
    columns = {c: c for c in CANONICAL if c in frame.columns}
    warnings = [
        f"{len(where)} row(s) name a file that cannot be opened ({reason}); they are kept and reported "
        f"unreadable, e.g. {'; '.join(where[:3])}"
        for reason, where in unopenable.items()
    ]
    header = ManifestHeader(
        id=dataset_id or path.stem,
        kind=kind,
        root=str(path.parent),
        label_map=dict(sorted(label_map.items())),
        generator_map=dict(sorted(generator_map.items())),
        column_map=columns,
        warnings=tuple(warnings),
        **dict(header_fields or {}),
    )
    return Manifest(header, rows)
