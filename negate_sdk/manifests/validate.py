"""``negate-bench validate``: is a manifest usable, and is it honest?

Checks, in order:

1. **schema**: unique sample ids, labels 0/1, reals with generator ``none`` and fakes without, well-formed
   sha256, positive sizes;
2. **maps**: every generator id is in the generator table (unknown ids and synthetic rows without a generator
   are listed); loading warnings (label/generator disagreements, dropped rows);
3. **files** (optional, all rows or a seeded stratified sample): each exists, decodes with
   :func:`negate_sdk.imaging.open_image`, matches the manifest's sha256, size and format;
4. **counts** per split, label, source, generator, format and size;
5. **the format shortcut**: the out-of-fold AUC of each nuisance attribute alone as a classifier of the label,
   per source (see :mod:`negate_sdk.manifests.shortcuts`); a warning when one reaches the threshold.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from negate_sdk import imaging
from negate_sdk.manifests._safetext import path_text, printable
from negate_sdk.manifests.generators import load_generators
from negate_sdk.manifests.manifest import Manifest
from negate_sdk.manifests.paths import message_path, read_file_bytes
from negate_sdk.manifests.schema import REAL_GENERATOR, UNKNOWN_GENERATOR, ManifestRow, is_sha256
from negate_sdk.manifests.shortcuts import DEFAULT_THRESHOLD, ShortcutFinding, find_shortcuts

LEVELS = ("error", "warning", "note")
CHUNK_ROWS = 128
PARALLEL_FROM = 2000  # rows; below this, starting worker processes costs more than it saves
MAX_EXAMPLES = 3
Progress = Callable[[int], None]


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


@dataclass
class ValidationReport:
    """Everything ``validate`` found about one manifest."""

    dataset: str
    provenance: dict[str, Any]
    header: dict[str, Any]
    counts: dict[str, Any]
    issues: list[Issue]
    files: FileStats | None = None
    shortcuts: list[ShortcutFinding] = field(default_factory=list)
    shortcut_threshold: float = DEFAULT_THRESHOLD

    def _level(self, level: str) -> list[Issue]:
        return [i for i in self.issues if i.level == level]

    @property
    def errors(self) -> list[Issue]:
        """Issues that make the manifest wrong."""
        return self._level("error")

    @property
    def warnings(self) -> list[Issue]:
        """Issues that leave it usable with a risk (the format shortcut is one)."""
        return self._level("warning")

    @property
    def ok(self) -> bool:
        """True when there is no error."""
        return not self.errors

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe view (what ``negate-bench validate --json`` prints per dataset)."""
        return {
            "dataset": self.dataset,
            "ok": self.ok,
            "provenance": self.provenance,
            "header": self.header,
            "counts": self.counts,
            "issues": [i.to_dict() for i in self.issues],
            "files": None if self.files is None else self.files.to_dict(),
            "shortcut_threshold": self.shortcut_threshold,
            "shortcuts": [s.to_dict() for s in self.shortcuts],
        }


def _issue(level: str, code: str, message: str, rows: Sequence[Any] = ()) -> Issue:
    examples = [r.sample_id if isinstance(r, ManifestRow) else str(r) for r in list(rows)[:MAX_EXAMPLES]]
    return Issue(level, code, message, count=max(len(rows), 1), examples=examples)


def check_rows(manifest: Manifest) -> list[Issue]:
    """Schema and map checks that need no file (points 1 and 2 of the module docstring)."""
    rows = manifest.rows
    issues: list[Issue] = []
    if not rows:
        return [Issue("error", "empty", "the manifest has no rows")]
    ids = Counter(r.sample_id for r in rows)
    duplicated = [i for i, n in ids.items() if n > 1]
    if duplicated:
        issues.append(
            _issue(
                "error", "duplicate-id", f"{len(duplicated)} sample id(s) appear more than once", duplicated
            )
        )
    checks = [
        ("error", "bad-label", "label is not 0 or 1", lambda r: r.label not in (0, 1)),
        ("error", "real-with-generator", f"real rows whose generator is not '{REAL_GENERATOR}'",
         lambda r: r.label == 0 and r.generator_id != REAL_GENERATOR),
        ("error", "synthetic-without-generator", f"synthetic rows with generator '{REAL_GENERATOR}'",
         lambda r: r.label == 1 and r.generator_id == REAL_GENERATOR),
        ("error", "bad-sha256", "sha256 is not 64 lowercase hex digits",
         lambda r: r.sha256 is not None and not is_sha256(r.sha256)),
        ("error", "bad-size", "width or height is not a positive whole number",
         lambda r: any(v is not None and (not isinstance(v, int) or v <= 0) for v in (r.width, r.height))),
        ("error", "empty-field", "empty sample id, locator, source or split",
         lambda r: not (r.sample_id and r.locator and r.source and r.split)),
        ("warning", "unknown-generator", f"synthetic rows whose generator is '{UNKNOWN_GENERATOR}': "
         "per-generator numbers pool them together",
         lambda r: r.label == 1 and r.generator_id == UNKNOWN_GENERATOR),
    ]  # fmt: skip
    for level, code, message, failing in checks:
        found = [r for r in rows if failing(r)]
        if found:
            issues.append(_issue(level, code, f"{len(found)} row(s): {message}", found))
    table = load_generators()
    unmapped = Counter(r.generator_id for r in rows if r.generator_id not in table)
    if unmapped:
        listed = ", ".join(f"{g} ({n})" for g, n in unmapped.most_common(8))
        issues.append(
            Issue("warning", "generator-not-in-table", "generator id(s) not in generators.toml, so their "
                  f"uses_clip is unknown: {listed}; add them (or aliases) to the table",
                  count=sum(unmapped.values()), examples=list(unmapped)[:MAX_EXAMPLES])
        )  # fmt: skip
    for warning in manifest.header.warnings:
        issues.append(Issue("warning", "load", warning))
    escaped = [r for r in rows if printable(r.locator) != r.locator]
    if escaped:
        text = "file name(s) are not UTF-8 or hold control characters: their sample ids show them escaped"
        issues.append(_issue("note", "escaped-names", f"{len(escaped)} {text}", escaped))
    labels = {r.label for r in rows}
    if len(labels) == 1:
        only = "real" if labels == {0} else "synthetic"
        issues.append(
            Issue("note", "one-class", f"every row is {only}: AUC cannot be computed on this dataset alone")
        )
    return issues


def counts(manifest: Manifest, observations: Sequence[dict[str, Any] | None] | None = None) -> dict[str, Any]:
    """Counts per split, label, source and generator (with ``uses_clip``), and per split × label; per format
    and size from the decoded files when ``observations`` are given, else from the manifest."""
    table = load_generators()
    rows = manifest.rows
    named = {0: "real", 1: "synthetic"}
    split_label: dict[str, Counter] = defaultdict(Counter)
    for row in rows:
        split_label[row.split][named.get(row.label, str(row.label))] += 1
    generator = Counter(r.generator_id for r in rows)
    result: dict[str, Any] = {
        "rows": len(rows),
        "split": dict(sorted(Counter(r.split for r in rows).items())),
        "label": {named.get(k, str(k)): v for k, v in sorted(Counter(r.label for r in rows).items())},
        "source": dict(sorted(Counter(r.source for r in rows).items())),
        "generator": {
            g: {"rows": n, "uses_clip": table[g].uses_clip if g in table else "unknown"}
            for g, n in sorted(generator.items())
        },
        "split_label": {s: dict(sorted(c.items())) for s, c in sorted(split_label.items())},
    }
    decoded = [o for o in observations or [] if o and o.get("ok")]
    if decoded:
        result["format"] = dict(Counter(o["format"] for o in decoded).most_common())
        result["size"] = dict(Counter(f"{o['width']}x{o['height']}" for o in decoded).most_common(10))
        result["measured_on"] = len(decoded)
    else:
        result["format"] = dict(Counter(r.format or "?" for r in rows).most_common())
        result["size"] = dict(
            Counter(f"{r.width}x{r.height}" if r.width and r.height else "?" for r in rows).most_common(10)
        )
    return result


# -- the file pass ---------------------------------------------------------------------------------


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
    progress: Progress | None = None,
) -> tuple[list[dict[str, Any]], int]:
    """One observation per row (in order) and the number of worker processes used.

    ``workers=None`` uses up to 4 processes when there are at least ``PARALLEL_FROM`` rows, else 1.
    """
    scheme = manifest.header.locator_scheme
    column = manifest.header.column_map.get("image", "image")
    root = manifest.root
    tasks = [
        (scheme, root, column, str(manifest.resolve_path(r)) if scheme == "path" else r.locator) for r in rows
    ]
    if workers is None:
        workers = min(4, os.cpu_count() or 1) if len(tasks) >= PARALLEL_FROM else 1
    chunks = [tasks[i : i + CHUNK_ROWS] for i in range(0, len(tasks), CHUNK_ROWS)]
    observations: list[dict[str, Any]] = []
    if workers <= 1 or len(chunks) <= 1:
        for chunk in chunks:
            observations += _inspect_chunk(chunk)
            if progress:
                progress(len(chunk))
        return observations, 1
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        for chunk, result in zip(chunks, pool.map(_inspect_chunk, chunks)):
            observations += result
            if progress:
                progress(len(chunk))
    return observations, workers


def _compare(
    rows: Sequence[ManifestRow], observations: Sequence[dict[str, Any]], stats: FileStats
) -> list[Issue]:
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
        issues.append(_issue(level, f"{key}-mismatch", f"{len(found)} file(s): {text}", found))
    return issues


def validate_manifest(
    manifest: Manifest,
    *,
    check_files: bool = True,
    limit: int | None = None,
    seed: int = 0,
    workers: int | None = None,
    progress: Progress | None = None,
    on_start: Callable[[int], None] | None = None,
    shortcut_threshold: float = DEFAULT_THRESHOLD,
) -> ValidationReport:
    """Validate ``manifest`` (see the module docstring); ``limit`` checks the files of a seeded stratified
    sample only. ``on_start(n)`` is called with the number of files before the file pass and ``progress(k)``
    after each ``k`` files."""
    issues = check_rows(manifest)
    stats = None
    observations: list[dict[str, Any]] | None = None
    shortcuts: list[ShortcutFinding] = []
    if check_files and manifest.rows:
        checked = manifest.sample(limit, seed=seed) if limit is not None else manifest
        if on_start:
            on_start(len(checked))
        started = time.perf_counter()
        observations, used = inspect_files(manifest, checked.rows, workers=workers, progress=progress)
        stats = FileStats(checked=len(checked), seconds=round(time.perf_counter() - started, 2), workers=used)
        issues += _compare(checked.rows, observations, stats)
        good = [(r, o) for r, o in zip(checked.rows, observations) if o["ok"]]
        shortcuts = find_shortcuts(
            [o for _, o in good],
            [r.label for r, _ in good],
            [r.source for r, _ in good],
            [r.sample_id for r, _ in good],
            threshold=shortcut_threshold,
        )
        for finding in shortcuts:
            if finding.flagged:
                issues.append(
                    Issue(
                        "warning",
                        "format-shortcut",
                        f"{finding.attribute} alone separates the classes in {finding.source}: AUC "
                        f"{finding.auc:.2f} (real: {finding.real_top}; synthetic: {finding.synthetic_top}); "
                        "a detector can score well without looking at content",
                    )
                )
        if limit is not None and limit < len(manifest):
            sampled = f"files checked on a seeded stratified sample of {len(checked)} of {len(manifest)} rows"
            issues.append(Issue("note", "sampled", f"{sampled} (seed {seed})"))
    order = {level: i for i, level in enumerate(LEVELS)}
    issues.sort(key=lambda i: order[i.level])
    return ValidationReport(
        dataset=manifest.id,
        provenance=manifest.provenance(),
        header={**manifest.header.to_dict(), "root": path_text(manifest.root)},  # shown, never opened
        counts=counts(manifest, observations),
        issues=issues,
        files=stats,
        shortcuts=shortcuts,
        shortcut_threshold=shortcut_threshold,
    )
