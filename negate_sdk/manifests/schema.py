"""The canonical manifest: one :class:`ManifestHeader` per dataset and one :class:`ManifestRow` per image.

Label convention: ``1`` = synthetic, ``0`` = real. Real images have ``generator_id == "none"``; synthetic
images whose generator is not known have ``generator_id == "unknown"``. Rows hold metadata only (a locator,
never pixels), so a million of them fit in memory.

Locators are relative to :attr:`ManifestHeader.root` and follow the header's ``locator_scheme``:

``path``
    a file path (POSIX separators; absolute paths are allowed), used by folders and CSV/Parquet tables;
``parquet-row``
    ``"<parquet file>#<row index>"``: the image is stored in that row of a Parquet file (Hugging Face layout,
    an ``image`` struct column of ``bytes`` and ``path``), read on demand.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from negate_sdk.manifests.errors import ManifestError

SCHEMA_VERSION = 1
REAL_GENERATOR = "none"
UNKNOWN_GENERATOR = "unknown"
SOURCE_KINDS = ("hf", "folder", "csv", "parquet")
LOCATOR_SCHEMES = ("path", "parquet-row")
DEFAULT_SPLIT = "all"  # the split of rows from a source that has none
ROW_FIELDS = (
    "sample_id", "locator", "label", "generator_id", "source", "split",
    "width", "height", "format", "sha256", "attrs",
)  # fmt: skip
# Canonical JSON: compact, UTF-8 kept, attrs keys sorted (the encoder is built once: this runs per row).
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), sort_keys=True, default=str)
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_REAL_WORDS = {"0", "real", "genuine", "authentic", "human"}
_SYNTHETIC_WORDS = {"1", "synthetic", "fake", "generated", "ai", "ai-generated"}


@dataclass(frozen=True, slots=True)
class ManifestRow:
    """One image of a dataset: where it is, its label and generator, and what is known of the file.

    ``width``, ``height``, ``format`` and ``sha256`` are ``None`` when the source does not state them
    (``negate-bench validate`` measures them). ``attrs`` holds dataset-specific fields (WikiArt's artist,
    a caption, the row's licence, ...) with JSON-safe values.
    """

    sample_id: str
    locator: str
    label: int
    generator_id: str
    source: str
    split: str
    width: int | None = None
    height: int | None = None
    format: str | None = None
    sha256: str | None = None
    attrs: dict[str, Any] = field(default_factory=dict, hash=False)

    def canonical(self) -> str:
        """The row as one line of canonical JSON (the unit of the manifest's content hash)."""
        return _ENCODER.encode(
            (
                self.sample_id, self.locator, self.label, self.generator_id, self.source, self.split,
                self.width, self.height, self.format, self.sha256, self.attrs,
            )
        )  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe view with the canonical field names."""
        return {name: (dict(self.attrs) if name == "attrs" else getattr(self, name)) for name in ROW_FIELDS}


@dataclass(frozen=True)
class ManifestHeader:
    """What a manifest is: where its data lives, under what terms, and how raw columns were mapped.

    ``label_map`` maps raw label values (folder names, strings, class names) to 0/1; ``generator_map``
    maps every raw generator value seen to its generator id; ``column_map`` names the raw column behind
    each canonical field. ``warnings`` were found while loading; ``skipped`` counts the entries a folder
    listing could not use, by reason (``{reason: {"count": n, "examples": [...]}}``); ``selection`` lists
    the filters and sampling applied to reach these rows, in order.
    """

    id: str
    kind: str
    root: str
    locator_scheme: str = "path"
    title: str = ""
    repo_id: str | None = None
    revision: str | None = None
    config: str | None = None
    split: str | None = None
    origin: str = "local"  # local | mirror | hf-cache | hub | sample
    licence: str = ""
    citation: str = ""
    homepage: str = ""
    label_map: dict[str, int] = field(default_factory=dict)
    generator_map: dict[str, str] = field(default_factory=dict)
    column_map: dict[str, str] = field(default_factory=dict)
    known_issues: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    selection: tuple[str, ...] = ()
    skipped: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in SOURCE_KINDS:
            raise ManifestError(
                f"manifest '{self.id}': kind '{self.kind}' is not one of {', '.join(SOURCE_KINDS)}"
            )
        if self.locator_scheme not in LOCATOR_SCHEMES:
            raise ManifestError(f"manifest '{self.id}': locator scheme '{self.locator_scheme}' is unknown")
        bad = {k: v for k, v in self.label_map.items() if v not in (0, 1)}
        if bad:
            raise ManifestError(f"manifest '{self.id}': label map values must be 0 or 1, got {bad}")

    def essentials(self) -> dict[str, Any]:
        """The header fields that enter the content hash: only what changes how rows are read."""
        return {"schema": SCHEMA_VERSION, "locator_scheme": self.locator_scheme}

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe view."""
        data = asdict(self)
        for key in ("known_issues", "warnings", "selection"):
            data[key] = list(data[key])
        return data


def parse_label(value: Any) -> int | None:
    """0 or 1 from a label written as ``real``/``synthetic``/``fake`` or ``0``/``1`` (any case); else None."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (int, float)) and value in (0, 1):
        return int(value)
    text = str(value).strip().lower()
    if text in _REAL_WORDS:
        return 0
    if text in _SYNTHETIC_WORDS:
        return 1
    return None


def is_sha256(value: Any) -> bool:
    """True for a lowercase 64-hex-digit string."""
    return isinstance(value, str) and bool(_SHA256.match(value))


def json_safe(value: Any) -> Any:
    """``value`` as a JSON-serialisable scalar, list or dict (numpy scalars and dates become Python/str)."""
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    item = getattr(value, "item", None)  # numpy scalars
    if callable(item):
        try:
            return json_safe(item())
        except (TypeError, ValueError):
            pass
    return str(value)
