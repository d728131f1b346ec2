"""The generator table (``datasets_manifest/generators.toml``): who made a synthetic image, and with what.

Each generator has an id (``sd-1.4``, ``flux-1-dev``, ``dalle-3`` ...), aliases, a family, a release date,
its text encoders and whether it uses CLIP (``yes`` / ``no`` / ``unknown``), with the evidence. The harness
groups per-generator numbers by ``uses_clip`` to measure the CLIP bias of CLIP-based detectors.

:func:`normalise_generator` turns the free-text model names datasets use (``"DALL·E 3"``, ``dalle3``,
``dall-e-3``) into ids; a name the table does not know becomes a lower-case slug of itself.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from negate_sdk.manifests.errors import ManifestError
from negate_sdk.manifests.schema import REAL_GENERATOR, UNKNOWN_GENERATOR

USES_CLIP = ("yes", "no", "unknown")
NOT_APPLICABLE = "n/a"  # uses_clip of the reserved id "none" (real images)
GENERATORS_FILE = "generators.toml"
_REAL_NAMES = {"", "none", "real", "null", "nan", "n/a", "na", "-"}
_VERSION_ZERO = re.compile(r"(?<=\d)\.0(?![\d])")  # "imagen-3.0" -> "imagen-3", "sdxl 1.0" -> "sdxl 1"
_V_BEFORE_DIGIT = re.compile(r"v(?=\d)")


@dataclass(frozen=True)
class GeneratorInfo:
    """One row of the generator table."""

    id: str
    name: str
    family: str
    architecture: str
    release_date: str | None
    text_encoders: tuple[str, ...]
    uses_clip: str
    clip_usage: str
    evidence: str
    aliases: tuple[str, ...] = ()
    access: str = "unknown"  # open-weights | api | unknown

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe view."""
        return {
            "id": self.id,
            "name": self.name,
            "family": self.family,
            "architecture": self.architecture,
            "release_date": self.release_date,
            "text_encoders": list(self.text_encoders),
            "uses_clip": self.uses_clip,
            "clip_usage": self.clip_usage,
            "evidence": self.evidence,
            "aliases": list(self.aliases),
            "access": self.access,
        }


def _ascii(text: str) -> str:
    """Accents dropped, Greek letters spelt out ("PixArt-Σ" → "PixArt-sigma", "Würstchen" → "Wurstchen")."""
    out = []
    for char in unicodedata.normalize("NFKD", text):
        if char.isascii():
            out.append(char)
        elif unicodedata.name(char, "").startswith("GREEK"):
            out.append(unicodedata.name(char).split()[-1].lower())
    return "".join(out)


def _key(name: str) -> str:
    """Comparison key of a generator name: lower case, '.0' versions dropped, only letters and digits."""
    text = _VERSION_ZERO.sub("", _ascii(str(name)).strip().lower())
    return re.sub(r"[^a-z0-9]", "", text)


def slug(name: str) -> str:
    """A readable id for an unknown generator name: lower case, runs of other characters become '-'."""
    text = re.sub(r"[^a-z0-9.]+", "-", _ascii(str(name)).strip().lower()).strip("-.")
    return text or UNKNOWN_GENERATOR


def _info_from_toml(generator_id: str, entry: dict[str, Any], path: Path) -> GeneratorInfo:
    where = f'{path.name} ["{generator_id}"]'
    uses_clip = str(entry.get("uses_clip", "")).lower()
    if generator_id == REAL_GENERATOR:
        if uses_clip != NOT_APPLICABLE:
            raise ManifestError(
                f"{where}: the reserved id '{REAL_GENERATOR}' has uses_clip = '{NOT_APPLICABLE}'"
            )
    elif uses_clip not in USES_CLIP:
        raise ManifestError(f"{where}: uses_clip must be one of {', '.join(USES_CLIP)}, got {uses_clip!r}")
    for required in ("name", "family", "evidence"):
        if not str(entry.get(required, "")).strip():
            raise ManifestError(f"{where}: '{required}' is required")
    if uses_clip == "yes" and not str(entry.get("clip_usage", "")).strip():
        raise ManifestError(f"{where}: uses_clip = 'yes' needs 'clip_usage' saying how CLIP is used")
    release = entry.get("release_date")
    return GeneratorInfo(
        id=generator_id,
        name=str(entry["name"]),
        family=str(entry["family"]),
        architecture=str(entry.get("architecture", "unknown")),
        release_date=None if release is None else str(release),
        text_encoders=tuple(str(t) for t in entry.get("text_encoders", ())),
        uses_clip=uses_clip,
        clip_usage=str(entry.get("clip_usage", "")),
        evidence=str(entry["evidence"]),
        aliases=tuple(str(a) for a in entry.get("aliases", ())),
        access=str(entry.get("access", "unknown")),
    )


@functools.lru_cache(maxsize=8)
def _load(path: Path) -> tuple[dict[str, GeneratorInfo], dict[str, str], dict[str, str]]:
    from negate_sdk.manifests.spec import read_toml

    table = read_toml(path)
    generators: dict[str, GeneratorInfo] = {}
    for generator_id, entry in table.items():
        if not isinstance(entry, dict):
            raise ManifestError(f"{path.name}: '{generator_id}' must be a table of fields")
        if generator_id != slug(generator_id):
            raise ManifestError(f"{path.name}: generator id '{generator_id}' is not a lower-case slug")
        generators[generator_id] = _info_from_toml(generator_id, entry, path)
    for reserved in (REAL_GENERATOR, UNKNOWN_GENERATOR):
        if reserved not in generators:
            raise ManifestError(f"{path.name}: the reserved generator '{reserved}' must be in the table")
    exact: dict[str, str] = {}
    loose: dict[str, str] = {}
    for info in generators.values():
        for name in (info.id, info.name, *info.aliases):
            key = _key(name)
            other = exact.setdefault(key, info.id)
            if other != info.id:
                raise ManifestError(
                    f"{path.name}: name {name!r} of '{info.id}' collides with '{other}' (same key '{key}')"
                )
            loose.setdefault(_V_BEFORE_DIGIT.sub("", key), info.id)
    return generators, exact, loose


def generators_path() -> Path:
    """Where ``generators.toml`` is read from (see :func:`negate_sdk.manifests.spec.manifest_dir`)."""
    from negate_sdk.manifests.spec import manifest_dir

    return manifest_dir() / GENERATORS_FILE


def load_generators(path: str | Path | None = None) -> dict[str, GeneratorInfo]:
    """``{generator_id: GeneratorInfo}`` from the generator table (read once, then cached).

    Raises :class:`ManifestError` for a malformed table: a bad ``uses_clip`` value, a missing field, or two
    generators sharing an alias.
    """
    return dict(_load(Path(path) if path is not None else generators_path())[0])


def get_generator(generator_id: str, path: str | Path | None = None) -> GeneratorInfo:
    """The table row of ``generator_id``; an unknown id gets the row of ``"unknown"`` under its own id."""
    table = _load(Path(path) if path is not None else generators_path())[0]
    if generator_id in table:
        return table[generator_id]
    unknown = table[UNKNOWN_GENERATOR]
    return GeneratorInfo(
        id=generator_id,
        name=generator_id,
        family=unknown.family,
        architecture=unknown.architecture,
        release_date=None,
        text_encoders=(),
        uses_clip="unknown",
        clip_usage="",
        evidence=unknown.evidence,
    )


def normalise_generator(name: Any, path: str | Path | None = None) -> str:
    """The generator id of a free-text model name.

    Names are compared on letters and digits only, ignoring case and a trailing ``.0`` in versions, so
    ``"DALL·E 3"``, ``"dall-e-3"`` and ``"dalle3"`` are all ``"dalle-3"``; a ``v`` before a version number
    is optional (``"midjourney-v6"`` = ``"midjourney 6"``). Empty values and ``real``/``none`` give
    ``"none"``. A name the table does not know is returned as a slug of itself (``"My Model 2"`` →
    ``"my-model-2"``); ``negate-bench validate`` lists such ids.
    """
    if name is None:
        return REAL_GENERATOR
    return _normalise(str(name).strip(), Path(path) if path is not None else generators_path())


@functools.lru_cache(maxsize=4096)
def _normalise(text: str, path: Path) -> str:
    if text.lower() in _REAL_NAMES:
        return REAL_GENERATOR
    _, exact, loose = _load(path)
    key = _key(text)
    if key in exact:
        return exact[key]
    loose_key = _V_BEFORE_DIGIT.sub("", key)
    if loose_key in loose:
        return loose[loose_key]
    return slug(text)
