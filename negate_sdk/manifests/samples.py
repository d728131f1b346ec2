"""Sample mirrors: a few generated images written in a dataset's exact layout, for trying the pipeline
offline and for the conformance suite (``create_dataset("openfake", sample=True)``).

The files have the dataset's own paths, columns, column types and raw label and generator values; the
pixels are generated patterns, so labels carry no meaning. A mirror is written once per spec version into
the temporary folder and reused.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from negate_sdk.manifests.errors import ManifestError
from negate_sdk.manifests.schema import REAL_GENERATOR

if TYPE_CHECKING:
    from negate_sdk.manifests.spec import DatasetSpec

SAMPLE_VERSION = "1"
ROWS_PER_SPLIT = 4  # two real, two synthetic (or four of a constant label)
SIDE = 32


def _image(seed: int, fmt: str = "PNG") -> bytes:
    """A ``SIDE``×``SIDE`` RGB pattern (gradient plus seeded noise), encoded."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:SIDE, 0:SIDE]
    base = np.stack([xx * 7 + seed * 13, yy * 5 + seed * 29, (xx + yy) * 3 + seed * 7], axis=-1) % 256
    pixels = np.clip(base + rng.normal(0, 12, base.shape), 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format=fmt)
    return buffer.getvalue()


def _raw(value: str) -> Any:
    """TOML keys are strings; integer raw labels are written as integers, as the datasets store them."""
    return int(value) if value.lstrip("-").isdigit() else value


def _first_key(table: dict[str, Any], wanted: Any) -> str | None:
    return next((k for k, v in table.items() if v == wanted), None)


def _label_values(spec: DatasetSpec, labels: list[int]) -> tuple[list[Any], Any]:
    import datasets

    if spec.class_names is not None:
        names = list(spec.class_names)
        index = {label: names.index(_first_key(spec.labels, label)) for label in set(labels)}
        return [index[label] for label in labels], datasets.ClassLabel(names=names)
    keys = {label: _first_key(spec.labels, label) for label in set(labels)}
    if any(k is None for k in keys.values()):
        raise ManifestError(f"{spec.path.name}: the label map needs a raw value for 0 and for 1")
    values = [_raw(keys[label]) for label in labels]
    dtype = "int32" if all(isinstance(v, int) for v in values) else "string"
    return values, datasets.Value(dtype)


def _generator_values(spec: DatasetSpec, labels: list[int]) -> tuple[list[Any], Any]:
    import datasets

    named = [k for k, v in spec.generators.items() if v != REAL_GENERATOR] or [
        "dall-e-3",
        "Stable Diffusion XL",
    ]
    real = _first_key(spec.generators, REAL_GENERATOR)
    values: list[Any] = []
    n_synthetic = 0
    for label in labels:
        if label == 1:
            values.append(named[n_synthetic % len(named)])
            n_synthetic += 1
        else:
            values.append(real if real is not None else "")
    converted = [_raw(v) for v in values]
    dtype = "int32" if all(isinstance(v, int) for v in converted) else "string"
    return (converted if dtype == "int32" else [str(v) for v in values]), datasets.Value(dtype)


def _write_parquet(spec: DatasetSpec, path: Path, seed: int) -> None:
    import datasets
    import pyarrow as pa
    import pyarrow.parquet as pq

    if spec.constant_label is not None:
        labels = [spec.constant_label] * ROWS_PER_SPLIT
    else:
        labels = [0, 1] * (ROWS_PER_SPLIT // 2)
    data: dict[str, list[Any]] = {
        spec.image_column: [{"bytes": _image(seed + i), "path": None} for i in range(len(labels))]
    }
    features: dict[str, Any] = {spec.image_column: datasets.Image()}
    if spec.label_column:
        data[spec.label_column], features[spec.label_column] = _label_values(spec, labels)
    if spec.generator_column:
        data[spec.generator_column], features[spec.generator_column] = _generator_values(spec, labels)
    for column in spec.attr_columns:
        data[column] = [f"{column.lower()}-{i % 2}" for i in range(len(labels))]
        features[column] = datasets.Value("string")
    schema = datasets.Features(features).arrow_schema
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pydict(data, schema=schema), path)


def _write_folder(spec: DatasetSpec, root: Path) -> None:
    real = _first_key(spec.label_dirs, 0) or "real"
    fake = _first_key(spec.label_dirs, 1) or "synthetic"
    for s, split in enumerate(spec.splits or ("",)):
        for label, folder in ((0, real), (1, fake)):
            target = root / split / folder
            target.mkdir(parents=True, exist_ok=True)
            for i in range(ROWS_PER_SPLIT // 2):
                (target / f"{i}.jpg").write_bytes(_image(100 * s + 10 * label + i, "JPEG"))


def _write(spec: DatasetSpec, root: Path) -> None:
    if spec.kind == "hf":
        seed = 0
        for config in spec.configs.values():
            for patterns in config.splits.values():
                _write_parquet(spec, root / patterns[0].replace("*", "00000-of-00001"), seed)
                seed += ROWS_PER_SPLIT
    elif spec.kind == "folder":
        _write_folder(spec, root)
    else:
        raise ManifestError(f"dataset '{spec.id}' ({spec.kind}) has no sample mirror")


def sample_mirror(spec: DatasetSpec) -> Path:
    """The folder of ``spec``'s sample mirror, written on first use (atomically) and reused after."""
    fingerprint = hashlib.sha256(spec.path.read_bytes() + SAMPLE_VERSION.encode()).hexdigest()[:12]
    user = os.environ.get("USER") or str(os.getuid() if hasattr(os, "getuid") else "user")
    base = Path(tempfile.gettempdir()) / f"negate-sample-mirrors-{user}"
    final = base / f"{spec.id}-{fingerprint}"
    if final.is_dir():
        return final
    base.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{spec.id}-", dir=base))
    try:
        _write(spec, staging)
        try:
            os.rename(staging, final)
        except OSError:  # another process wrote it first
            if not final.is_dir():
                raise
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return final
