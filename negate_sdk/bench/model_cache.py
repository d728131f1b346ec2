"""Fitted detectors cached by what determines them, so a re-run refits nothing it has fitted before.

A fit is a deterministic function of the detector's parameters, the training images (their sha256, in
order), their labels, and the code (negate-sdk and plugin versions). The key hashes all of these; the
fitted detector is kept in the safe artifact format (``detector.save``: JSON card + safe weights) under
``<store root>/models/<key>/``, and loaded with the same verification as any saved detector. Anything
that changes the fit changes the key; ``--refit`` ignores the cache.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from negate_sdk.artifacts import ArtifactError
from negate_sdk.detectors import load_detector
from negate_sdk.sample import Sample


def fit_key(name: str, detector: Any, hashes: Sequence[str], labels: Sequence[int], versions: dict) -> str:
    """sha256 over the detector's name and parameters, the training images and labels, and code versions."""
    params = json.dumps(detector.get_params(deep=True), sort_keys=True, default=repr)
    digest = hashlib.sha256()
    digest.update(json.dumps([name, type(detector).__qualname__, params, versions], sort_keys=True).encode())
    for sha, label in zip(hashes, labels):
        digest.update(f"{sha}:{label}\n".encode())
    return digest.hexdigest()


class ModelCache:
    """Fitted detectors on disk, keyed by :func:`fit_key` over ``versions`` (the code they depend on)."""

    def __init__(self, root: str | Path, versions: dict[str, Any] | None = None) -> None:
        self.root = Path(root)
        self.versions = versions or {}

    def lookup(self, detector: Any, samples: Sequence[Sample]) -> tuple[str, Any | None]:
        """``(key, cached fit or None)`` for fitting ``detector`` on ``samples`` (with their labels)."""
        key = fit_key(detector.name, detector, [s.sha256 for s in samples], [s.label for s in samples],
                      self.versions)  # fmt: skip
        return key, self.load(key)

    def load(self, key: str) -> Any | None:
        """The cached detector for ``key``, or None (a damaged entry is dropped and refitted)."""
        folder = self.root / key
        if not folder.is_dir():
            return None
        try:
            return load_detector(folder)
        except (ArtifactError, ValueError, KeyError, OSError):
            shutil.rmtree(folder, ignore_errors=True)
            return None

    def save(self, key: str, detector: Any) -> None:
        """Save ``detector`` under ``key`` (the save stages the folder and renames it into place)."""
        try:
            detector.save(self.root / key)
        except (OSError, ArtifactError):  # another process saved the same key first: theirs is identical
            return
