"""Folders of image files as manifests, with no manifest file to write.

Two layouts are recognised, class folders matched without regard to case:

- ``root/{real,synthetic}/...`` (or ``REAL``/``FAKE``, ``real``/``fake``): split ``"all"``;
- ``root/<split>/{real,synthetic}/...`` (CIFAKE's ``train|test/REAL|FAKE``): the split is the folder name.

``label_dirs`` replaces the class folder names (``{"nature": 0, "ai": 1}``). Files are found recursively,
in sorted order, by image extension; hidden files and folders are skipped. Real images get generator
``"none"``; synthetic ones get ``synthetic_generator`` (default ``"unknown"``).

Entries that cannot be images are skipped, never fatal: FIFOs, sockets and devices (also behind symbolic
links), broken or looping links, folders that cannot be listed, and paths over the OS limits. The header
says how many of each and names a few (``header.skipped``, one warning line per reason). A file name that
is not valid UTF-8 or holds control characters is kept: its locator is the name as the OS gives it, its
sample id shows the odd bytes escaped (``real/caf\\xe9.jpg``), the same on every run.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import Any

from negate_sdk.manifests.errors import ManifestError
from negate_sdk.manifests.manifest import Manifest
from negate_sdk.manifests.paths import message_path, path_problem
from negate_sdk.manifests.schema import (
    DEFAULT_SPLIT,
    REAL_GENERATOR,
    UNKNOWN_GENERATOR,
    ManifestHeader,
    ManifestRow,
)
from negate_sdk.safetext import printable

DEFAULT_LABEL_DIRS = {"real": 0, "synthetic": 1, "fake": 1}
IMAGE_SUFFIXES = frozenset(
    {".jpg", ".jpeg", ".jpe", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff", ".avif", ".heic", ".heif"}
)
MAX_SKIP_EXAMPLES = 3
_SPECIAL_KINDS = (
    (stat.S_ISFIFO, "FIFO"),
    (stat.S_ISSOCK, "socket"),
    (stat.S_ISCHR, "character device"),
    (stat.S_ISBLK, "block device"),
)


@dataclass
class Listing:
    """What a folder walk found: image files, other files, and ``(path, reason)`` of skipped entries."""

    images: list[str] = field(default_factory=list)
    others: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)


def _not_regular(mode: int) -> str:
    kind = next((name for test, name in _SPECIAL_KINDS if test(mode)), "special file")
    return f"not a regular file ({kind})"


def _link_problem(err: OSError) -> str:
    if err.errno == errno.ELOOP:
        return "symbolic link loop"
    if err.errno == errno.ENOENT:
        return "broken symbolic link"
    return f"cannot follow symbolic link: {err.strerror or err}"


def _entries(folder: str, listing: Listing) -> list[os.DirEntry[str]]:
    """The non-hidden entries of ``folder`` sorted by name; a folder that cannot be listed is skipped."""
    problem = path_problem(folder)
    if problem is not None:
        listing.skipped.append((folder, problem))
        return []
    try:
        with os.scandir(folder) as found:
            entries = [e for e in found if not e.name.startswith(".")]
    except OSError as err:
        listing.skipped.append((folder, f"cannot list the folder: {err.strerror or err}"))
        return []
    return sorted(entries, key=lambda e: e.name)


def _is_dir(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_dir()
    except OSError:  # as os.walk: an entry whose type cannot be read is not descended into
        return False


def _classify(entry: os.DirEntry[str], listing: Listing) -> None:
    """File an entry with an image extension under images or skipped (with the reason)."""
    path = entry.path
    problem = path_problem(path)
    if problem is not None:
        listing.skipped.append((path, problem))
        return
    try:
        if entry.is_file(follow_symlinks=False):  # a regular file: known from the listing, no stat
            listing.images.append(path)
            return
        if entry.is_symlink():
            try:
                mode = os.stat(path).st_mode
            except OSError as err:
                listing.skipped.append((path, _link_problem(err)))
                return
        else:
            mode = entry.stat(follow_symlinks=False).st_mode
    except OSError as err:
        listing.skipped.append((path, f"cannot read the entry: {err.strerror or err}"))
        return
    if stat.S_ISREG(mode):
        listing.images.append(path)
    else:
        listing.skipped.append((path, _not_regular(mode)))


def scan(folder: str | os.PathLike[str]) -> Listing:
    """Every file under ``folder``, in the order ``os.walk`` visits them (a folder's files, sorted, before
    its sub-folders, sorted); hidden entries and symbolic links to folders are not followed."""
    listing = Listing()
    stack = [os.fspath(folder)]
    while stack:
        current = stack.pop()
        subfolders = []
        for entry in _entries(current, listing):
            if _is_dir(entry):
                if not entry.is_symlink():
                    subfolders.append(entry.path)
            elif PurePath(entry.name).suffix.lower() in IMAGE_SUFFIXES:
                _classify(entry, listing)
            else:
                listing.others.append(entry.path)
        stack.extend(reversed(subfolders))
    return listing


def _subdirs(folder: Path, skipped: list[tuple[str, str]]) -> list[Path]:
    listing = Listing()
    found = [Path(e.path) for e in _entries(str(folder), listing) if _is_dir(e)]
    skipped += listing.skipped
    return found


def _class_dirs(
    folder: Path, label_dirs: Mapping[str, int], skipped: list[tuple[str, str]]
) -> dict[Path, int]:
    lowered = {name.lower(): label for name, label in label_dirs.items()}
    return {p: lowered[p.name.lower()] for p in _subdirs(folder, skipped) if p.name.lower() in lowered}


def _layout(root: Path, label_dirs: Mapping[str, int] | None) -> tuple[dict[str, dict[Path, int]], list]:
    label_dirs = label_dirs or DEFAULT_LABEL_DIRS
    if not root.is_dir():
        raise ManifestError(f"not a folder: {message_path(root)}")
    skipped: list[tuple[str, str]] = []
    top = _class_dirs(root, label_dirs, skipped)
    if skipped:  # the root itself could not be listed: nothing else to try
        raise ManifestError(f"{skipped[0][1]}: {message_path(root)}")
    if top:
        return {DEFAULT_SPLIT: top}, skipped
    splits = {p.name: _class_dirs(p, label_dirs, skipped) for p in _subdirs(root, skipped)}
    splits = {name: classes for name, classes in splits.items() if classes}
    if not splits:
        names = "/".join(sorted(label_dirs))
        raise ManifestError(
            f"folder {message_path(root)} has no class folders ({names}) at its top or one level down; "
            "pass label_dirs (--label-dirs NAME=real,NAME=synthetic) for other names"
        )
    return splits, skipped


def layout(root: Path, label_dirs: Mapping[str, int] | None = None) -> dict[str, dict[Path, int]]:
    """``{split: {class folder: label}}`` of a folder dataset; ManifestError when no layout matches."""
    return _layout(root, label_dirs)[0]


def skip_report(skipped: list[tuple[str, str]], root: Path) -> dict[str, dict[str, Any]]:
    """``{reason: {"count": n, "examples": [printable relative paths]}}`` of skipped entries."""
    report: dict[str, dict[str, Any]] = {}
    for path, reason in skipped:
        entry = report.setdefault(reason, {"count": 0, "examples": []})
        entry["count"] += 1
        if len(entry["examples"]) < MAX_SKIP_EXAMPLES:
            entry["examples"].append(message_path(os.path.relpath(path, root)))
    return report


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
    splits, skipped = _layout(root, label_dirs)
    source = source or printable(root.name)
    generator = synthetic_generator or UNKNOWN_GENERATOR
    rows: list[ManifestRow] = []
    ignored: list[str] = []
    label_map: dict[str, int] = {}
    for split, classes in splits.items():
        for folder, label in classes.items():
            label_map[printable(folder.name)] = label
            listing = scan(folder)
            ignored += listing.others
            skipped += listing.skipped
            for path in listing.images:
                relative = Path(path).relative_to(root).as_posix()
                rows.append(
                    ManifestRow(
                        sample_id=printable(relative),  # the locator keeps the OS's bytes; ids are text
                        locator=relative,
                        label=label,
                        generator_id=REAL_GENERATOR if label == 0 else generator,
                        source=source,
                        split=printable(split),
                    )
                )
    warnings = []
    if ignored:
        example = message_path(os.path.relpath(ignored[0], root))
        warnings.append(f"ignored {len(ignored)} file(s) without an image extension, e.g. {example}")
    report = skip_report(skipped, root)
    for reason, entry in report.items():
        warnings.append(
            f"skipped {entry['count']} entr{'y' if entry['count'] == 1 else 'ies'} ({reason}), "
            f"e.g. {', '.join(entry['examples'])}"
        )
    if not rows:
        raise ManifestError(
            f"folder {message_path(root)} has class folders but no image files in them"
            + (f" ({warnings[-1]})" if report else "")
        )
    header = ManifestHeader(
        id=dataset_id or printable(root.name),
        kind="folder",
        root=str(root),
        label_map=dict(sorted(label_map.items())),
        generator_map={"(synthetic folders)": generator},
        column_map={
            "label": "class folder name",
            **({} if DEFAULT_SPLIT in splits else {"split": "split folder"}),
        },
        warnings=tuple(warnings),
        skipped=report,
        **dict(header_fields or {}),
    )
    return Manifest(header, rows)
