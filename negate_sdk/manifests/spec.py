"""Dataset specs: one TOML file per dataset in ``datasets_manifest/``, parsed into :class:`DatasetSpec`.

A spec says where a dataset lives (a Hugging Face repo, a folder, a CSV file), which raw columns hold the
image, label and generator, how raw values map to labels and generator ids, its licence and its known
issues. ``docs/datasets.md`` documents every key. The folder is found through ``NEGATE_MANIFEST_DIR``, else
next to the installed package (a source checkout), else under ``<prefix>/share/negate-sdk``.
"""

from __future__ import annotations

import functools
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from negate_sdk.manifests.errors import ManifestError
from negate_sdk.manifests.rules import ColumnRules
from negate_sdk.manifests.schema import SOURCE_KINDS

ENV_MANIFEST_DIR = "NEGATE_MANIFEST_DIR"
MANIFEST_DIR_NAME = "datasets_manifest"
_NOT_SPECS = {"generators.toml"}
TOML_KEYS = frozenset(
    {
        "id", "kind", "title", "description", "licence", "citation", "homepage", "known_issues", "download",
        "location", "repo_id", "revision", "default_config", "configs", "columns", "labels", "class_names",
        "constant_label", "unlabeled", "generators", "synthetic_generator", "check_generator_consistency",
        "source", "splits", "label_dirs", "file", "subsets",
    }
)  # fmt: skip


def read_toml(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Parse a TOML file; a syntax error becomes a one-line :class:`ManifestError` naming the file."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib
    path = Path(path)
    try:
        with open(path, "rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise ManifestError(f"manifest file not found: {path}") from None
    except tomllib.TOMLDecodeError as err:
        raise ManifestError(f"{path.name}: invalid TOML: {err}") from None


def manifest_dir() -> Path:
    """The folder holding the dataset TOML files and ``generators.toml``."""
    return _manifest_dir(os.environ.get(ENV_MANIFEST_DIR))


@functools.lru_cache(maxsize=4)
def _manifest_dir(override: str | None) -> Path:
    candidates = [Path(override)] if override else []
    candidates += [
        Path(__file__).resolve().parents[2] / MANIFEST_DIR_NAME,  # source checkout / editable install
        Path(sys.prefix) / "share" / "negate-sdk" / MANIFEST_DIR_NAME,  # installed as data files
    ]
    for candidate in candidates:
        if (candidate / "generators.toml").is_file():
            return candidate
    where = ", ".join(str(c) for c in candidates)
    raise ManifestError(f"no {MANIFEST_DIR_NAME} folder with generators.toml found (looked in {where})")


@dataclass(frozen=True)
class ConfigSpec:
    """One configuration of a hub dataset: its source name and the file patterns of each split."""

    name: str
    source: str
    splits: dict[str, tuple[str, ...]]


@dataclass(frozen=True)
class DatasetSpec(ColumnRules):
    """A dataset's TOML file, checked and typed (see ``docs/datasets.md`` for each key); its column rules
    (label, generator and attr columns, value maps) are the fields of :class:`ColumnRules`."""

    id: str
    kind: str
    path: Path
    title: str = ""
    description: str = ""
    licence: str = ""
    citation: str = ""
    homepage: str = ""
    known_issues: tuple[str, ...] = ()
    download: str = ""
    location: str = "data_dir"  # data_dir | dev
    # hub datasets
    repo_id: str | None = None
    revision: str = "main"
    default_config: str | None = None
    configs: dict[str, ConfigSpec] = field(default_factory=dict)
    image_column: str = "image"  # the label, generator and attr columns are the inherited ColumnRules
    # folders and tables
    source: str | None = None
    splits: tuple[str, ...] = ()
    label_dirs: dict[str, int] = field(default_factory=dict)
    file: str | None = None
    subsets: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def ids(self) -> list[str]:
        """The dataset ids this spec provides: its own and one per subset."""
        return [self.id, *self.subsets]

    def header_fields(self) -> dict[str, Any]:
        """Fields every manifest built from this spec carries in its header."""
        return {
            "title": self.title,
            "licence": self.licence,
            "citation": self.citation.strip(),
            "homepage": self.homepage,
            "known_issues": self.known_issues,
        }


def _label_table(raw: Any, where: str) -> dict[str, int]:
    if not isinstance(raw, dict):
        raise ManifestError(f"{where} must be a table of raw value = 0 or 1")
    table = {str(k): v for k, v in raw.items()}
    bad = {k: v for k, v in table.items() if v not in (0, 1) or isinstance(v, bool)}
    if bad:
        raise ManifestError(f"{where}: values must be 0 (real) or 1 (synthetic), got {bad}")
    return table


def parse_spec(data: dict[str, Any], path: Path) -> DatasetSpec:
    """Check and type one dataset TOML (already parsed); raise :class:`ManifestError` naming the key."""
    name = path.name
    unknown = sorted(set(data) - TOML_KEYS)
    if unknown:
        raise ManifestError(f"{name}: unknown key(s) {', '.join(unknown)}")
    for required in ("id", "kind"):
        if not data.get(required):
            raise ManifestError(f"{name}: '{required}' is required")
    kind = str(data["kind"])
    if kind not in SOURCE_KINDS:
        raise ManifestError(f"{name}: kind must be one of {', '.join(SOURCE_KINDS)}, got {kind!r}")
    columns = data.get("columns", {})
    configs: dict[str, ConfigSpec] = {}
    for config_name, config in data.get("configs", {}).items():
        splits = config.get("splits", {})
        if not splits:
            raise ManifestError(f"{name}: config '{config_name}' has no splits")
        configs[config_name] = ConfigSpec(
            name=config_name,
            source=str(config.get("source", data["id"])),
            splits={s: (p,) if isinstance(p, str) else tuple(p) for s, p in splits.items()},
        )
    if kind == "hf":
        if not data.get("repo_id") or not configs:
            raise ManifestError(f"{name}: a hub dataset needs 'repo_id' and at least one [configs.NAME]")
        if "label" not in columns and data.get("constant_label") is None:
            raise ManifestError(f"{name}: give columns.label or constant_label")
    default_config = data.get("default_config") or (next(iter(configs)) if configs else None)
    if configs and default_config not in configs:
        raise ManifestError(f"{name}: default_config '{default_config}' is not a configured config")
    constant = data.get("constant_label")
    if constant is not None and constant not in (0, 1):
        raise ManifestError(f"{name}: constant_label must be 0 or 1")
    generators = {str(k): str(v) for k, v in data.get("generators", {}).items()}
    return DatasetSpec(
        id=str(data["id"]),
        kind=kind,
        path=path,
        title=str(data.get("title", "")),
        description=str(data.get("description", "")),
        licence=str(data.get("licence", "")),
        citation=str(data.get("citation", "")),
        homepage=str(data.get("homepage", "")),
        known_issues=tuple(str(i) for i in data.get("known_issues", ())),
        download=str(data.get("download", "")),
        location=str(data.get("location", "data_dir")),
        repo_id=data.get("repo_id"),
        revision=str(data.get("revision", "main")),
        default_config=default_config,
        configs=configs,
        image_column=str(columns.get("image", "image")),
        label_column=columns.get("label"),
        generator_column=columns.get("generator"),
        attr_columns=tuple(columns.get("attrs", ())),
        labels=_label_table(data.get("labels", {}), f"{name} [labels]"),
        class_names=tuple(data["class_names"]) if "class_names" in data else None,
        constant_label=constant,
        unlabeled=tuple(str(v) for v in data.get("unlabeled", ())),
        generators=generators,
        synthetic_generator=data.get("synthetic_generator"),
        check_generator_consistency=bool(data.get("check_generator_consistency", False)),
        source=data.get("source"),
        splits=tuple(str(s) for s in data.get("splits", ())) if kind != "hf" else (),
        label_dirs=_label_table(data.get("label_dirs", {}), f"{name} label_dirs"),
        file=data.get("file"),
        subsets={str(k): dict(v) for k, v in data.get("subsets", {}).items()},
    )


def load_spec(path: str | os.PathLike[str]) -> DatasetSpec:
    """Read and check one dataset TOML file."""
    path = Path(path)
    return parse_spec(read_toml(path), path)


def list_specs(directory: str | os.PathLike[str] | None = None) -> list[DatasetSpec]:
    """Every dataset spec in the manifest folder, sorted by id; ids must be unique."""
    folder = Path(directory) if directory is not None else manifest_dir()
    specs = [load_spec(p) for p in sorted(folder.glob("*.toml")) if p.name not in _NOT_SPECS]
    seen: dict[str, Path] = {}
    for spec in specs:
        for dataset_id in spec.ids:
            if dataset_id in seen:
                raise ManifestError(
                    f"dataset id '{dataset_id}' is defined in both {seen[dataset_id].name} "
                    f"and {spec.path.name}"
                )
            seen[dataset_id] = spec.path
    return sorted(specs, key=lambda s: s.id)


def find_spec(dataset_id: str, directory: str | os.PathLike[str] | None = None) -> DatasetSpec:
    """The spec providing ``dataset_id`` (its own id or one of its subsets)."""
    for spec in list_specs(directory):
        if dataset_id in spec.ids:
            return spec
    raise ManifestError(f"no dataset spec defines '{dataset_id}'")
