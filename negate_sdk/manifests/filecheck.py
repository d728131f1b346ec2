"""The file pass of ``negate-bench validate``: read, hash and decode each image (in worker processes for
large sets) and compare what was found with what the manifest states.

Every failure is one printable line per file; one hostile file never ends the pass.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from negate_sdk import imaging
from negate_sdk.manifests.manifest import Manifest
from negate_sdk.manifests.paths import message_path, read_file_bytes
from negate_sdk.manifests.schema import ManifestRow
from negate_sdk.pool import ordered_map, resolve_n_jobs
from negate_sdk.progress import ProgressFn
from negate_sdk.safetext import printable

CHUNK_ROWS = 128
PARALLEL_FROM = 2000  # rows; below this, starting worker processes costs more than it saves
MAX_EXAMPLES = 3


@dataclass
class Issue:
    """One finding: ``level`` error (the manifest is wrong), warning (usable, with a risk) or note."""

    level: str
    code: str
    message: str
    count: int = 1
    examples: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe view."""
        return asdict(self)


@dataclass
class FileStats:
    """What the file pass found (over ``checked`` rows)."""

    checked: int = 0
    decoded: int = 0
    failed: int = 0
    sha256_checked: int = 0
    sha256_mismatch: int = 0
    size_mismatch: int = 0
    format_mismatch: int = 0
    seconds: float = 0.0
    workers: int = 1

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe view."""
        return asdict(self)


def issue_of(level: str, code: str, message: str, rows: Sequence[Any] = ()) -> Issue:
    """An issue counting ``rows`` (manifest rows or values), with the first few as examples."""
    examples = [r.sample_id if isinstance(r, ManifestRow) else str(r) for r in list(rows)[:MAX_EXAMPLES]]
    return Issue(level, code, message, count=max(len(rows), 1), examples=examples)


def inspect_file(task: tuple[str, str, str, str]) -> dict[str, Any]:
    """Read, hash and decode one image: ``task`` is (scheme, root, image column, locator or file path)."""
    scheme, root, column, locator = task
    try:
        if scheme == "path":
            data = read_file_bytes(locator)
        else:
            from negate_sdk.manifests.parquet_images import read_image_bytes

            data = read_image_bytes(root, locator, column)
        digest = hashlib.sha256(data).hexdigest()
        meta = imaging.open_image(data).metadata
    except imaging.ImageError as err:
        return {"ok": False, "error": printable(err.reason)}
    except Exception as err:  # one hostile row must not end the pass: reported, the rest go on
        first = (str(err).splitlines() or [""])[0] or type(err).__name__
        return {"ok": False, "error": printable(f"cannot read {message_path(locator)}: {first}")}
    return {
        "ok": True,
        "sha256": digest,
        "format": "JPEG" if meta.format == "MPO" else meta.format,
        "width": meta.width,
        "height": meta.height,
        "mode": meta.mode,
        "jpeg_quality": meta.jpeg_quality,
        "exif": bool(meta.exif),
        "n_bytes": len(data),
    }


def _inspect_chunk(tasks: list[tuple[str, str, str, str]]) -> list[dict[str, Any]]:
    return [inspect_file(t) for t in tasks]


def inspect_files(
    manifest: Manifest,
    rows: Sequence[ManifestRow],
    *,
    workers: int | None = None,
    progress: ProgressFn | None = None,
) -> tuple[list[dict[str, Any]], int]:
    """One observation per row (in order) and the number of worker processes used.

    ``workers=None`` uses a process per core when there are at least ``PARALLEL_FROM`` rows, else 1
    (the SDK's pool: :mod:`negate_sdk.pool`). ``progress`` receives ``(stage, advance, total)``.
    """
    scheme = manifest.header.locator_scheme
    column = manifest.header.column_map.get("image", "image")
    root = manifest.root
    tasks = [
        (scheme, root, column, str(manifest.resolve_path(r)) if scheme == "path" else r.locator) for r in rows
    ]
    if workers is None:
        workers = -1 if len(tasks) >= PARALLEL_FROM else 1
    chunks = [tasks[i : i + CHUNK_ROWS] for i in range(0, len(tasks), CHUNK_ROWS)]
    workers = 1 if len(chunks) <= 1 else resolve_n_jobs(workers)
    observations: list[dict[str, Any]] = []
    for chunk, result in zip(chunks, ordered_map(_inspect_chunk, chunks, workers)):
        observations += result
        if progress:
            progress(f"check {manifest.id}", len(chunk), len(tasks))
    return observations, workers


def compare_files(
    rows: Sequence[ManifestRow], observations: Sequence[dict[str, Any]], stats: FileStats
) -> list[Issue]:
    """Issues from comparing each row with its observation (unreadable, sha256/size/format mismatches);
    fills in ``stats``."""
    failed: dict[str, list[str]] = defaultdict(list)
    mismatch: dict[str, list[ManifestRow]] = defaultdict(list)
    for row, seen in zip(rows, observations):
        if not seen["ok"]:
            failed[seen["error"]].append(row.sample_id)
            continue
        if row.sha256 is not None:
            stats.sha256_checked += 1
            if row.sha256 != seen["sha256"]:
                mismatch["sha256"].append(row)
        if (row.width is not None and row.width != seen["width"]) or (
            row.height is not None and row.height != seen["height"]
        ):
            mismatch["size"].append(row)
        if row.format is not None and row.format.upper().replace("JPG", "JPEG") != seen["format"]:
            mismatch["format"].append(row)
    stats.failed = sum(len(v) for v in failed.values())
    stats.decoded = stats.checked - stats.failed
    stats.sha256_mismatch = len(mismatch.get("sha256", ()))
    stats.size_mismatch = len(mismatch.get("size", ()))
    stats.format_mismatch = len(mismatch.get("format", ()))
    issues = []
    for reason, ids in sorted(failed.items(), key=lambda kv: -len(kv[1])):
        issues.append(
            Issue("error", "unreadable", f"{len(ids)} file(s): {reason}", len(ids), ids[:MAX_EXAMPLES])
        )
    texts = {
        "sha256": ("error", "the file's sha256 differs from the manifest's (changed or replaced files)"),
        "size": ("error", "the file's width × height differs from the manifest's"),
        "format": ("warning", "the file's format differs from the manifest's"),
    }
    for key, found in mismatch.items():
        level, text = texts[key]
        issues.append(issue_of(level, f"{key}-mismatch", f"{len(found)} file(s): {text}", found))
    return issues
