"""The sha256 of each row's bytes, for grouping byte-identical images: the manifest's own column when it
has one, else computed from the file.

Files are hashed streaming (1 MiB at a time, so memory stays flat whatever their size), once per distinct
file, by a few threads (hashing and reading release the GIL). A file is opened without blocking and only
hashed when it is a regular file under :data:`negate_sdk.imaging.MAX_FILE_BYTES`, so a FIFO or device
named by a table costs nothing. Images inside local Parquet files are read row by row; those behind an
``hf://`` root are not hashed (that would download the whole dataset before the first image is scored):
their rows count as ``unavailable``, like unreadable files, and are grouped alone.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import ClassVar

from negate_sdk import imaging
from negate_sdk.manifests.manifest import Manifest
from negate_sdk.manifests.paths import path_problem
from negate_sdk.manifests.schema import ManifestRow

CHUNK_BYTES = 1 << 20
THREADS = 8
THREADS_FROM = 256  # files; below this a thread pool costs more than it saves
BATCH_FILES = 128


@dataclass
class ContentHashes:
    """sha256 per file locator of one manifest, computed for the rows whose sha256 it does not state."""

    ORIGINS: ClassVar[tuple[str, ...]] = ("manifest", "computed", "unavailable")

    by_locator: dict[str, str | None] = field(default_factory=dict)

    def of(self, row: ManifestRow) -> str | None:
        """The row's content sha256 (hex), or None when unknown."""
        return row.sha256 or self.by_locator.get(row.locator)

    def origin(self, row: ManifestRow) -> str:
        """Where the row's sha256 comes from: one of :attr:`ORIGINS`."""
        if row.sha256:
            return "manifest"
        return "computed" if self.by_locator.get(row.locator) else "unavailable"


def file_sha256(path: str | os.PathLike[str], max_bytes: int = imaging.MAX_FILE_BYTES) -> str | None:
    """Hex sha256 of a regular file's bytes, read in chunks; None when it is not one or cannot be read."""
    if path_problem(path) is not None:
        return None
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer; fstat then refuses it
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size > max_bytes or info.st_size == 0:
            return None
        digest = hashlib.sha256()
        while chunk := os.read(fd, CHUNK_BYTES):
            digest.update(chunk)
        return digest.hexdigest()
    except OSError:
        return None
    finally:
        os.close(fd)


def _hash_batch(paths: list[str]) -> list[str | None]:
    return [file_sha256(p) for p in paths]


def _parquet_row_sha256(root: str, locator: str, column: str) -> str | None:
    from negate_sdk.manifests.parquet_images import read_image_bytes

    try:
        return hashlib.sha256(read_image_bytes(root, locator, column)).hexdigest()
    except Exception:  # an unreadable row is left ungrouped; scoring reports why, once
        return None


def content_hashes(manifest: Manifest, rows: Sequence[ManifestRow] | None = None) -> ContentHashes:
    """The content sha256 of ``rows`` (default: all of ``manifest``'s), computing what the manifest lacks."""
    rows = manifest.rows if rows is None else rows
    wanted = list(dict.fromkeys(r.locator for r in rows if not r.sha256))
    scheme = manifest.header.locator_scheme
    if scheme == "path":
        paths = [str(manifest.locator_path(locator)) for locator in wanted]
        if len(paths) >= THREADS_FROM:  # batches: one future per file would cost more than a small file
            batches = [paths[i : i + BATCH_FILES] for i in range(0, len(paths), BATCH_FILES)]
            with ThreadPoolExecutor(max_workers=THREADS) as pool:
                digests = [d for batch in pool.map(_hash_batch, batches) for d in batch]
        else:
            digests = _hash_batch(paths)
    elif not manifest.root.startswith("hf://"):
        column = manifest.header.column_map.get("image", "image")
        digests = [_parquet_row_sha256(manifest.root, locator, column) for locator in wanted]
    else:
        digests = [None] * len(wanted)
    return ContentHashes(dict(zip(wanted, digests)))
