"""Dataset manifests: the canonical rows a benchmark runs on, and the adapters that produce them.

::

    from negate_sdk.manifests import resolve_dataset, load_generators

    m = resolve_dataset("dev-cifake")            # a registered id, a folder, or a CSV/Parquet table
    m.splits()                                   # {"test": 2000, "train": 6000}
    test = m.filter(split="test").sample(limit=500, seed=0)
    test.content_hash                            # cite it in results
    for sample in test.to_samples():             # lazy negate_sdk.Sample objects
        ...
    load_generators()["sd-1.4"].uses_clip        # "yes"

Importing this package is cheap: pandas, pyarrow and ``datasets`` are imported only by the functions that
read tables or hub datasets. See ``docs/datasets.md``.
"""

from __future__ import annotations

from typing import Any

from negate_sdk.manifests.errors import DatasetUnavailableError, ManifestError
from negate_sdk.manifests.schema import (
    REAL_GENERATOR,
    UNKNOWN_GENERATOR,
    ManifestHeader,
    ManifestRow,
)

_LAZY = {
    "Manifest": "negate_sdk.manifests.manifest",
    "resolve_dataset": "negate_sdk.manifests.resolve",
    "DatasetFactory": "negate_sdk.manifests.resolve",
    "GeneratorInfo": "negate_sdk.manifests.generators",
    "load_generators": "negate_sdk.manifests.generators",
    "get_generator": "negate_sdk.manifests.generators",
    "normalise_generator": "negate_sdk.manifests.generators",
    "load_folder": "negate_sdk.manifests.folder",
    "load_table": "negate_sdk.manifests.table",
    "validate_manifest": "negate_sdk.manifests.validate",
    "ValidationReport": "negate_sdk.manifests.validate",
}

__all__ = [
    "REAL_GENERATOR",
    "UNKNOWN_GENERATOR",
    "DatasetFactory",
    "DatasetUnavailableError",
    "GeneratorInfo",
    "Manifest",
    "ManifestError",
    "ManifestHeader",
    "ManifestRow",
    "ValidationReport",
    "get_generator",
    "load_folder",
    "load_generators",
    "load_table",
    "normalise_generator",
    "resolve_dataset",
    "validate_manifest",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'negate_sdk.manifests' has no attribute {name!r}")
