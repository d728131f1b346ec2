"""Where a dataset's files are: an offline mirror, the local dev sets, the Hugging Face cache, or the hub.

Offline mirrors live under one folder, ``$NEGATE_DATA_DIR`` (or ``data_dir=`` / ``--data-dir``), one
sub-folder per dataset id laid out like the hub repository (``openfake/core/test-00000-of-00005.parquet``)
or like the original release (``cifake/train/REAL/...``). The dev sets are found at ``$NEGATE_DEV_DATA``,
else ``../shared/datasets`` from the current directory or from the project's root.
"""

from __future__ import annotations

import os
from pathlib import Path

ENV_DATA_DIR = "NEGATE_DATA_DIR"
ENV_DEV_DATA = "NEGATE_DEV_DATA"
DEV_DATA_RELATIVE = Path("..") / "shared" / "datasets"
DEV_MANIFEST = "manifest.csv"
_TRUE = {"1", "true", "yes", "on"}


def data_root(data_dir: str | os.PathLike[str] | None = None) -> Path | None:
    """The mirrors folder: ``data_dir`` if given, else ``$NEGATE_DATA_DIR``, else None."""
    if data_dir is not None:
        return Path(data_dir).expanduser()
    value = os.environ.get(ENV_DATA_DIR)
    return Path(value).expanduser() if value else None


def mirror_dir(dataset_id: str, data_dir: str | os.PathLike[str] | None = None) -> Path | None:
    """``<mirrors folder>/<dataset_id>`` when that folder exists, else None."""
    root = data_root(data_dir)
    if root is None:
        return None
    candidate = root / dataset_id
    return candidate if candidate.is_dir() else None


def dev_data_dir() -> Path | None:
    """The dev image sets (a folder with ``manifest.csv``), or None when they are not on this machine."""
    value = os.environ.get(ENV_DEV_DATA)
    if value:
        candidates = [Path(value).expanduser()]
    else:
        project_root = Path(__file__).resolve().parents[2]
        candidates = [Path.cwd() / DEV_DATA_RELATIVE, project_root / DEV_DATA_RELATIVE]
    for candidate in candidates:
        if (candidate / DEV_MANIFEST).is_file():
            return candidate.resolve()
    return None


def hub_offline() -> bool:
    """True when the hub must not be contacted (``HF_HUB_OFFLINE`` or ``HF_DATASETS_OFFLINE`` is set)."""
    return any(
        os.environ.get(v, "").strip().lower() in _TRUE for v in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")
    )


def mirror_hint(dataset_id: str, data_dir: str | os.PathLike[str] | None = None) -> str:
    """Where the files of ``dataset_id`` should go, in words a user can act on."""
    root = data_root(data_dir)
    if root is None:
        return f"set {ENV_DATA_DIR}=<folder> (or pass --data-dir) and put the files in <folder>/{dataset_id}"
    return f"put the files in {root / dataset_id}"
