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
   per source (see :mod:`negate_sdk.manifests.shortcuts`); a warning when one reaches the threshold;
6. **duplicates**: byte-identical images (same sha256: measured on the files checked, else the manifest's),
   the splits they straddle (a warning when one is in both ``train`` and ``test``: the dataset's own split
   leaks it) and copies labelled both real and synthetic (an error). See
   :mod:`negate_sdk.manifests.duplicates`.
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from negate_sdk.manifests.duplicates import split_report
from negate_sdk.manifests.filecheck import (
    MAX_EXAMPLES,
    FileStats,
    Issue,
    compare_files,
    inspect_file,
    inspect_files,
    issue_of,
)
from negate_sdk.manifests.generators import load_generators
from negate_sdk.manifests.manifest import Manifest
from negate_sdk.manifests.schema import REAL_GENERATOR, UNKNOWN_GENERATOR, ManifestRow, is_sha256
from negate_sdk.manifests.shortcuts import DEFAULT_THRESHOLD, ShortcutFinding, find_shortcuts
from negate_sdk.progress import ProgressFn
from negate_sdk.safetext import path_text, printable

LEVELS = ("error", "warning", "note")
__all__ = [
    "FileStats",
    "Issue",
    "ValidationReport",
    "check_duplicates",
    "check_rows",
    "counts",
    "inspect_file",
    "inspect_files",
    "validate_manifest",
]


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
    duplicates: dict[str, Any] = field(default_factory=dict)

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
            "duplicates": self.duplicates,
        }


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
            issue_of(
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
            issues.append(issue_of(level, code, f"{len(found)} row(s): {message}", found))
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
        issues.append(issue_of("note", "escaped-names", f"{len(escaped)} {text}", escaped))
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


def check_duplicates(
    manifest: Manifest, measured: dict[str, str] | None = None
) -> tuple[dict[str, Any], list[Issue]]:
    """Byte-identical groups of ``manifest`` (point 6 of the module docstring) and their issues.

    ``measured``: ``{locator: sha256}`` of the files read, preferred to the manifest's column. The report is
    :func:`negate_sdk.manifests.duplicates.split_report` plus ``rows_hashed`` (rows whose sha256 is known).
    """
    measured = measured or {}

    def sha_of(row: ManifestRow) -> str | None:
        return measured.get(row.locator) or row.sha256

    report = {
        **split_report(manifest.rows, sha_of),
        "rows_hashed": sum(1 for r in manifest.rows if sha_of(r)),
    }
    issues = []
    if report["n_groups"]:
        examples = [f"{e['sha256']}: {' = '.join(e['sample_ids'])}" for e in report["examples"]]
        straddle = ", ".join(f"{k} {n}" for k, n in report["straddling"].items()) or "none"
        issues.append(
            Issue(
                "warning" if report["train_test_overlap"] else "note",
                "duplicates",
                f"{report['n_groups']} group(s) of byte-identical images over {report['n_rows']} rows; "
                f"groups across splits: {straddle}; {report['train_test_overlap']} in both train and test "
                "(a dataset's own split is kept as it is: runs report those test images)",
                count=report["n_rows"],
                examples=examples,
            )
        )
    if report["label_conflicts"]:
        issues.append(
            Issue(
                "error",
                "duplicate-label-conflict",
                f"{report['label_conflicts']} group(s) of byte-identical images are labelled both real and "
                "synthetic",
                count=report["label_conflicts"],
            )
        )
    return report, issues


def validate_manifest(
    manifest: Manifest,
    *,
    check_files: bool = True,
    limit: int | None = None,
    seed: int = 0,
    workers: int | None = None,
    progress: ProgressFn | None = None,
    shortcut_threshold: float = DEFAULT_THRESHOLD,
) -> ValidationReport:
    """Validate ``manifest`` (see the module docstring); ``limit`` checks the files of a seeded stratified
    sample only. ``progress`` receives ``(stage, advance, total)`` during the file pass."""
    issues = check_rows(manifest)
    stats = None
    observations: list[dict[str, Any]] | None = None
    shortcuts: list[ShortcutFinding] = []
    measured: dict[str, str] = {}  # locator -> sha256 of the bytes read
    if check_files and manifest.rows:
        checked = manifest.sample(limit, seed=seed) if limit is not None else manifest
        started = time.perf_counter()
        observations, used = inspect_files(manifest, checked.rows, workers=workers, progress=progress)
        stats = FileStats(checked=len(checked), seconds=round(time.perf_counter() - started, 2), workers=used)
        issues += compare_files(checked.rows, observations, stats)
        good = [(r, o) for r, o in zip(checked.rows, observations) if o["ok"]]
        measured = {r.locator: o["sha256"] for r, o in good}
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
    duplicates, found = check_duplicates(manifest, measured)
    issues += found
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
        duplicates=duplicates,
        shortcut_threshold=shortcut_threshold,
    )
