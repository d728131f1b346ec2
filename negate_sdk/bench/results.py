"""The results of a run: ``results.json`` (versioned, documented in docs/results.md) and
``predictions.parquet`` (one row per image × detector × fold × condition), from which every metric in
the JSON can be recomputed with :func:`metrics_from_predictions`.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import subprocess
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from negate_sdk.artifacts import atomic_write_bytes
from negate_sdk.bench.metrics import compute_metrics

SCHEMA_VERSION = 1
PREDICTION_COLUMNS = (
    "sample_id",
    "detector",
    "fold",
    "condition",
    "label",
    "generator",
    "source",
    "real_source",
    "uses_clip",
    "score",
    "pred",
    "verdict",
    "seen_in_training",
    "novel",
)
# flags absent from predictions written before the column existed (read as False)
OPTIONAL_FLAGS = ("seen_in_training", "novel")


def group_metrics(
    rows: dict[str, np.ndarray], *, n_boot: int, seed: int, by_condition: bool = True
) -> dict[str, Any]:
    """Metrics of one detector and fold: overall (clean), per source, per generator, per real source,
    and overall per condition.

    ``rows`` holds equal-length arrays named as :data:`PREDICTION_COLUMNS`. Per generator, a generator's
    synthetic images are scored against the reals of the same sources (its detection rate is ``tpr``);
    per real source, reals only (its false-positive rate is ``fpr``). Rows ``seen_in_training`` (a test
    image whose bytes were among the training images) are left out of every figure.
    """
    unseen = ~np.asarray(rows["seen_in_training"], dtype=bool)
    condition = rows["condition"]
    clean = (condition == "clean") & unseen
    computed: dict[bytes, dict[str, Any]] = {}  # one source, one generator: groups often equal overall

    def metrics(mask: np.ndarray) -> dict[str, Any]:
        key = np.packbits(mask).tobytes()
        if key not in computed:
            computed[key] = _metrics(mask)
        return computed[key]

    def _metrics(mask: np.ndarray) -> dict[str, Any]:
        verdict = rows["verdict"][mask]
        return compute_metrics(
            rows["label"][mask],
            rows["score"][mask],
            rows["pred"][mask],
            verdict == "UNCERTAIN",
            verdict == "SYNTHETIC",
            np.asarray(rows["novel"][mask], dtype=bool),
            n_boot=n_boot,
            seed=seed,
        )

    out: dict[str, Any] = {
        "overall": metrics(clean),
        "per_source": {},
        "per_generator": {},
        "per_real_source": {},
    }
    for source in sorted(set(rows["source"][clean])):
        out["per_source"][source] = metrics(clean & (rows["source"] == source))
    synthetic = clean & (rows["label"] == 1)
    real = clean & (rows["label"] == 0)
    for generator in sorted(set(rows["generator"][synthetic])):
        mine = synthetic & (rows["generator"] == generator)
        sources = set(rows["source"][mine])
        out["per_generator"][generator] = metrics(mine | (real & np.isin(rows["source"], list(sources))))
    for real_source in sorted(set(rows["real_source"][real])):
        out["per_real_source"][real_source] = metrics(real & (rows["real_source"] == real_source))
    if by_condition:
        out["per_condition"] = {
            name: metrics((condition == name) & unseen)
            for name in sorted(set(condition), key=lambda c: (c != "clean", c))
        }
    return out


def columns_from_records(records: Sequence[dict[str, Any]]) -> dict[str, np.ndarray]:
    """Prediction records to named arrays (object arrays for strings)."""
    out = {}
    for column in PREDICTION_COLUMNS:
        values = [r.get(column, False) if column in OPTIONAL_FLAGS else r[column] for r in records]
        if column in OPTIONAL_FLAGS:
            out[column] = np.asarray(values, dtype=bool)
        elif column in ("label", "pred"):
            out[column] = np.asarray(values, dtype=np.int64)
        elif column == "score":
            out[column] = np.asarray(values, dtype=np.float64)
        else:
            out[column] = np.asarray(values, dtype=object)
    return out


def write_predictions(path: Path, records: Iterable[dict[str, Any]]) -> None:
    """Write prediction records as Parquet (atomically)."""
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq

    records = list(records)
    table = pa.table({c: [r.get(c, False) if c in OPTIONAL_FLAGS else r[c] for r in records]
                      for c in PREDICTION_COLUMNS})  # fmt: skip
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def read_predictions(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Prediction records from a ``predictions.parquet``."""
    import pyarrow.parquet as pq

    return pq.read_table(path).to_pylist()


def metrics_from_predictions(
    records: Sequence[dict[str, Any]], *, n_boot: int, seed: int
) -> dict[tuple[str, str], dict[str, Any]]:
    """Recompute every run's metrics from prediction records: ``{(detector, fold): metrics}``."""
    keys = sorted({(r["detector"], r["fold"]) for r in records})
    out = {}
    for detector, fold in keys:
        mine = [r for r in records if r["detector"] == detector and r["fold"] == fold]
        out[(detector, fold)] = group_metrics(columns_from_records(mine), n_boot=n_boot, seed=seed)
    return out


def git_sha() -> str | None:
    """The commit of the negate-sdk source tree, when it is a git checkout."""
    here = Path(__file__).resolve().parent
    try:
        result = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip() or None if result.returncode == 0 else None


def peak_memory_mb() -> float:
    """Peak resident memory of this process and its finished children, in MiB (Linux reports KiB)."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    scale = 1 / 1024 if sys.platform != "darwin" else 1 / 2**20
    return round(max(own, children) * scale, 1)


def environment() -> dict[str, Any]:
    """Package and plugin versions, Python and platform, git sha."""
    from negate_sdk import __version__
    from negate_sdk.plugins import get_host

    plugins = {name: info.version for name, info in get_host().plugins.items() if not info.errors}
    return {
        "negate_sdk": __version__,
        "plugins": plugins,
        "git_sha": git_sha(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
    }


FIT_LIBRARIES = ("numpy", "scipy", "scikit-learn", "lightgbm", "xgboost", "torch", "timm", "open_clip_torch")


def environment_versions() -> dict[str, Any]:
    """What a fitted detector depends on besides its inputs: negate-sdk, plugins, git sha, key libraries.

    Read from package metadata, so nothing heavy (torch) is imported.
    """
    from importlib import metadata

    libraries = {}
    for name in FIT_LIBRARIES:
        try:
            libraries[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            libraries[name] = None
    env = environment()
    return {key: env[key] for key in ("negate_sdk", "plugins", "git_sha")} | libraries


def write_results(path: Path, document: dict[str, Any]) -> None:
    """Write ``results.json`` atomically (sorted keys, NaN refused)."""
    text = json.dumps(document, indent=2, sort_keys=True, allow_nan=False, default=_default)
    atomic_write_bytes(path, text.encode())


def _default(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def read_results(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a ``results.json``; a clear error for files of another schema version."""
    document = json.loads(Path(path).read_text())
    version = document.get("schema_version")
    if version != SCHEMA_VERSION:
        raise ValueError(
            f"{path}: results schema version {version!r}; this negate-sdk reads {SCHEMA_VERSION}"
        )
    return document
