"""Folders of image files as manifests, with no manifest file to write.

Two layouts are recognised, class folders matched without regard to case:

- ``root/{real,synthetic}/...`` (or ``REAL``/``FAKE``, ``real``/``fake``): split ``"all"``;
- ``root/<split>/{real,synthetic}/...`` (CIFAKE's ``train|test/REAL|FAKE``): the split is the folder name.

``label_dirs`` replaces the class folder names (``{"nature": 0, "ai": 1}``). Files are found recursively,
in sorted order, by image extension; hidden files and folders are skipped. Real images get generator
``"none"``; synthetic ones get ``synthetic_generator`` (default ``"unknown"``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from negate_sdk.manifests.errors import ManifestError
from negate_sdk.manifests.manifest import Manifest
from negate_sdk.manifests.schema import (
    DEFAULT_SPLIT,
    REAL_GENERATOR,
    UNKNOWN_GENERATOR,
    ManifestHeader,
    ManifestRow,
)

DEFAULT_LABEL_DIRS = {"real": 0, "synthetic": 1, "fake": 1}
IMAGE_SUFFIXES = frozenset(
    {".jpg", ".jpeg", ".jpe", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff", ".avif", ".heic", ".heif"}
)


def _subdirs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def _class_dirs(folder: Path, label_dirs: Mapping[str, int]) -> dict[Path, int]:
    lowered = {name.lower(): label for name, label in label_dirs.items()}
    return {p: lowered[p.name.lower()] for p in _subdirs(folder) if p.name.lower() in lowered}


def _image_files(folder: Path) -> tuple[list[Path], list[Path]]:
    """(image files, other files) under ``folder``, recursively and sorted; hidden entries skipped."""
    images, others = [], []
    for current, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if name.startswith("."):
                continue
            path = Path(current) / name
            (images if path.suffix.lower() in IMAGE_SUFFIXES else others).append(path)
    return images, others


def layout(root: Path, label_dirs: Mapping[str, int] | None = None) -> dict[str, dict[Path, int]]:
    """``{split: {class folder: label}}`` of a folder dataset; ManifestError when no layout matches."""
    label_dirs = label_dirs or DEFAULT_LABEL_DIRS
    if not root.is_dir():
        raise ManifestError(f"not a folder: {root}")
    top = _class_dirs(root, label_dirs)
    if top:
        return {DEFAULT_SPLIT: top}
    splits = {p.name: _class_dirs(p, label_dirs) for p in _subdirs(root)}
    splits = {name: classes for name, classes in splits.items() if classes}
    if not splits:
        names = "/".join(sorted(label_dirs))
        raise ManifestError(
            f"folder {root} has no class folders ({names}) at its top or one level down; "
            "pass label_dirs (--label-dirs NAME=real,NAME=synthetic) for other names"
        )
    return splits


def load_folder(
    root: str | os.PathLike[str],
    *,
    label_dirs: Mapping[str, int] | None = None,
    source: str | None = None,
    synthetic_generator: str | None = None,
    dataset_id: str | None = None,
    header_fields: Mapping[str, Any] | None = None,
) -> Manifest:
    """A manifest of every image file under ``root`` (see the module docstring for the layouts)."""
    root = Path(root).expanduser().resolve()
    splits = layout(root, label_dirs)
    source = source or root.name
    generator = synthetic_generator or UNKNOWN_GENERATOR
    rows: list[ManifestRow] = []
    ignored: list[Path] = []
    label_map: dict[str, int] = {}
    for split, classes in splits.items():
        for folder, label in classes.items():
            label_map[folder.name] = label
            images, others = _image_files(folder)
            ignored += others
            for path in images:
                relative = path.relative_to(root).as_posix()
                rows.append(
                    ManifestRow(
                        sample_id=relative,
                        locator=relative,
                        label=label,
                        generator_id=REAL_GENERATOR if label == 0 else generator,
                        source=source,
                        split=split,
                    )
                )
    warnings = []
    if ignored:
        example = ignored[0].relative_to(root).as_posix()
        warnings.append(f"ignored {len(ignored)} file(s) without an image extension, e.g. {example}")
    if not rows:
        raise ManifestError(f"folder {root} has class folders but no image files in them")
    header = ManifestHeader(
        id=dataset_id or root.name,
        kind="folder",
        root=str(root),
        label_map=dict(sorted(label_map.items())),
        generator_map={"(synthetic folders)": generator},
        column_map={
            "label": "class folder name",
            **({} if DEFAULT_SPLIT in splits else {"split": "split folder"}),
        },
        warnings=tuple(warnings),
        **dict(header_fields or {}),
    )
    return Manifest(header, rows)
