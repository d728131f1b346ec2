"""The provenance veto: metadata evidence that an image was generated raises its verdict to SYNTHETIC.

Evidence read (each switchable through ``sources``):

- ``c2pa``: a C2PA manifest (read with c2pa-python) whose actions declare an IPTC digital source type of
  trained algorithmic media, or whose claim generator is a known image generator;
- ``iptc``: IPTC ``DigitalSourceType`` in XMP (``trainedAlgorithmicMedia`` and its composites);
- ``parameters``: generation parameters in PNG text chunks or EXIF comments (AUTOMATIC1111 ``parameters``,
  ComfyUI ``prompt``/``workflow``, InvokeAI, NovelAI, Fooocus);
- ``software``: EXIF/PNG ``Software`` naming a known generator.

Absence of evidence proves nothing: the veto then abstains (-1). ``enabled=False`` makes it abstain
always, for pixel-only evaluation.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from negate_sdk.api import BaseVeto, Sample, VetoDecision, VetoEffect
from negate_sdk.imaging import ImageMetadata

SOURCES = ("c2pa", "iptc", "parameters", "software")

# IPTC NewsCodes digital source types that mean "made (at least partly) by a generator".
SYNTHETIC_SOURCE_TYPES = (
    "trainedAlgorithmicMedia",
    "compositeWithTrainedAlgorithmicMedia",
    "algorithmicMedia",
    "compositeSynthetic",
)
_SOURCE_TYPE_RE = re.compile(
    r"digitalsourcetype/("
    + "|".join(SYNTHETIC_SOURCE_TYPES)
    + r")\b|DigitalSourceType\W{1,4}("
    + "|".join(SYNTHETIC_SOURCE_TYPES)
    + r")\b",
    re.IGNORECASE,
)

# Software names of generators (matched as whole words, case-insensitive). Editors such as Photoshop or
# GIMP are deliberately absent: a human editing a photo is not evidence of generation.
GENERATOR_SOFTWARE = (
    r"midjourney",
    r"dall[\s\-·.]?e(?:\s?[23])?",
    r"stable[\s\-]?diffusion",
    r"sdxl",
    r"novelai",
    r"adobe\s+firefly",
    r"imagen\s?[234]?",
    r"google\s+gemini",
    r"leonardo(?:\.ai)?",
    r"ideogram",
    r"bing\s+image\s+creator",
    r"microsoft\s+designer",
    r"gpt[\s\-]?image(?:[\s\-]1)?",
    r"chatgpt",
    r"comfyui",
    r"automatic1111",
    r"invokeai",
    r"fooocus",
    r"draw\s+things",
    r"diffusionbee",
    r"nightcafe",
    r"craiyon",
    r"flux\.1",
    r"black\s+forest\s+labs",
    r"runway(?:ml)?\s+gen",
    r"recraft",
    r"seedream",
)
_SOFTWARE_RE = re.compile(r"(?<![\w.])(" + "|".join(GENERATOR_SOFTWARE) + r")(?![\w])", re.IGNORECASE)
_A1111_RE = re.compile(r"\bSteps:\s*\d+.*\b(Sampler|CFG scale|Seed):", re.DOTALL)


def _parameters_evidence(metadata: ImageMetadata) -> str | None:
    text = {key.lower(): value for key, value in metadata.text.items()}
    if "parameters" in text and _A1111_RE.search(text["parameters"]):
        return "PNG 'parameters' chunk holds AUTOMATIC1111 generation settings"
    if "prompt" in text or "workflow" in text:
        for key in ("prompt", "workflow"):
            try:
                graph = json.loads(text.get(key, ""))
            except json.JSONDecodeError:
                continue
            if _looks_like_comfyui(graph):
                return f"PNG '{key}' chunk holds a ComfyUI workflow"
    for key, name in (
        ("invokeai_metadata", "InvokeAI"),
        ("sd-metadata", "InvokeAI"),
        ("fooocus_scheme", "Fooocus"),
    ):
        if key in text:
            return f"PNG '{key}' chunk holds {name} generation settings"
    if text.get("software", "").strip().lower() == "novelai" or "novelai" in text.get("source", "").lower():
        return "PNG text chunks name NovelAI as the source"
    for key in ("UserComment", "ImageDescription"):
        value = metadata.exif.get(key, "")
        if _A1111_RE.search(value):
            return f"EXIF {key} holds AUTOMATIC1111 generation settings"
    return None


def _looks_like_comfyui(graph: Any) -> bool:
    if isinstance(graph, dict) and "nodes" in graph and isinstance(graph["nodes"], list):
        return any(isinstance(n, dict) and "type" in n for n in graph["nodes"])
    if isinstance(graph, dict):
        return any(isinstance(node, dict) and "class_type" in node for node in graph.values())
    return False


def _software_evidence(metadata: ImageMetadata) -> str | None:
    candidates = [("EXIF Software", metadata.exif.get("Software", ""))]
    candidates += [(f"PNG '{k}'", v) for k, v in metadata.text.items() if k.lower() in ("software", "source")]
    for where, value in candidates:
        match = _SOFTWARE_RE.search(value or "")
        if match:
            return f"{where} names the generator '{match.group(1)}'"
    return None


def _iptc_evidence(metadata: ImageMetadata) -> str | None:
    match = _SOURCE_TYPE_RE.search(metadata.xmp or "")
    if match:
        return f"IPTC DigitalSourceType is '{match.group(1) or match.group(2)}'"
    return None


def c2pa_evidence(manifest_store: dict[str, Any]) -> str | None:
    """Evidence of generation in a C2PA manifest store (the JSON c2pa-python's ``Reader.json()`` gives)."""
    manifests = manifest_store.get("manifests") or {}
    active = manifest_store.get("active_manifest")
    ordered = [manifests[active]] if active in manifests else []
    ordered += [m for key, m in manifests.items() if key != active]
    for manifest in ordered:
        for assertion in manifest.get("assertions") or []:
            if not str(assertion.get("label", "")).startswith("c2pa.actions"):
                continue
            for action in (assertion.get("data") or {}).get("actions") or []:
                source_type = str(action.get("digitalSourceType", ""))
                name = source_type.rsplit("/", 1)[-1]
                if name in SYNTHETIC_SOURCE_TYPES:
                    return f"C2PA action '{action.get('action', '?')}' declares digital source type '{name}'"
        generators = [manifest.get("claim_generator", "")]
        generators += [
            g.get("name", "") for g in manifest.get("claim_generator_info") or [] if isinstance(g, dict)
        ]
        for generator in generators:
            match = _SOFTWARE_RE.search(str(generator))
            if match:
                return f"C2PA claim generator is '{match.group(1)}'"
    return None


def read_c2pa(data: bytes, image_format: str) -> dict[str, Any] | None:
    """The C2PA manifest store of an image as JSON, or None when absent, unreadable or c2pa is missing."""
    try:
        import io

        import c2pa
    except ImportError:
        return None
    mime = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp", "TIFF": "image/tiff"}
    try:
        reader = c2pa.Reader(mime.get(image_format, ""), io.BytesIO(data))
        return json.loads(reader.json())
    except Exception:  # a malformed manifest is not evidence either way
        return None


class ProvenanceVeto(BaseVeto):
    """Raises a verdict to SYNTHETIC when the file's metadata says a generator made it."""

    name = "provenance"
    effect = VetoEffect.RAISE

    def __init__(self, enabled: bool = True, sources: tuple[str, ...] | list[str] = SOURCES) -> None:
        self.enabled = enabled
        self.sources = sources

    def evidence(self, sample: Sample) -> str | None:
        """The first piece of evidence found in one sample's metadata, or None."""
        unknown = set(self.sources) - set(SOURCES)
        if unknown:
            raise ValueError(
                f"unknown provenance sources {sorted(unknown)}; use some of {', '.join(SOURCES)}"
            )
        metadata = sample.metadata
        checks = {
            "iptc": lambda: _iptc_evidence(metadata),
            "parameters": lambda: _parameters_evidence(metadata),
            "software": lambda: _software_evidence(metadata),
            "c2pa": lambda: (
                c2pa_evidence(read_c2pa(sample.data, metadata.format) or {}) if metadata.has_c2pa else None
            ),
        }
        for source in SOURCES:
            if source in self.sources:
                found = checks[source]()
                if found:
                    return found
        return None

    def decide(self, samples: Sequence[Sample]) -> list[VetoDecision]:
        """1 with the evidence when found, else -1 (abstain)."""
        decisions = []
        for sample in samples:
            found = self.evidence(sample) if self.enabled else None
            decisions.append(
                VetoDecision(self.name, 1, found)
                if found
                else VetoDecision(self.name, -1, "no provenance evidence")
            )
        return decisions
