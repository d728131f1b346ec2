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

Metadata is untrusted: each text field is read in windows of :data:`MAX_FIELD_CHARS` (its start, and
for generation settings also its end; XMP up to :data:`MAX_XMP_CHARS`, ComfyUI JSON up to
:data:`MAX_JSON_CHARS`), every pattern runs in linear time, JSON is scanned token by token without
recursion, and a sample whose metadata cannot be read gets an abstention saying so instead of an
exception.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from typing import Any

from negate_sdk.api import BaseVeto, Sample, VetoDecision, VetoEffect
from negate_sdk.imaging import ImageMetadata
from negate_sdk.safetext import printable

SOURCES = ("c2pa", "iptc", "parameters", "software")

# A text field is read in windows of this many characters: generation settings are a few hundred
# characters, a ComfyUI graph declares its first node within the first few KiB.  Bounding the reads
# bounds the time a hostile file can cost, whatever the SDK or another loader kept.
MAX_FIELD_CHARS = 8 << 10
# XMP is searched further (its packets carry editing history before the IPTC properties); the pattern
# runs in linear time, and imaging.MAX_XMP_CHARS keeps no more than this anyway.
MAX_XMP_CHARS = 256 << 10
# A ComfyUI graph is scanned further: its API "prompt" lists nodes by id, and the first may be a text
# node whose prompt runs to KiBs before its "class_type".  The token scan is linear (a hostile 64 KiB
# costs ~30 ms) and stops at the first node type.
MAX_JSON_CHARS = 64 << 10
# ComfyUI's evidence sits at depth 2 or 3; deeper nesting ends the scan (never the stack).
MAX_JSON_DEPTH = 64

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
# AUTOMATIC1111 settings: "Steps: 30, Sampler: ..., CFG scale: 7, Seed: 1234".  Two searches, the second
# starting where the first ended, instead of one pattern with ".*" between them (which backtracks
# quadratically on "Steps: 1 " repeated): the same matches, in linear time.
_A1111_STEPS_RE = re.compile(r"\bSteps:\s*\d+")
_A1111_KEY_RE = re.compile(r"\b(?:Sampler|CFG scale|Seed):")
# One JSON token after optional whitespace: a string (unrolled, so linear), punctuation, or a scalar.
_JSON_TOKEN_RE = re.compile(
    r'\s*(?:"([^"\\]*(?:\\.[^"\\]*)*)"|([{}\[\]:,])|(-?\d[\d.eE+-]*|true|false|null))'
)


def _windows(text: str) -> tuple[str, ...]:
    """The start and the end of a field, each at most MAX_FIELD_CHARS long (the field itself if short)."""
    if len(text) <= MAX_FIELD_CHARS:
        return (text,)
    return (text[:MAX_FIELD_CHARS], text[-MAX_FIELD_CHARS:])


def _has_a1111_settings(text: str) -> bool:
    """True if a window of ``text`` has ``Steps: <n>`` followed by a ``Sampler:``/``CFG scale:``/``Seed:``."""
    for window in _windows(text):
        steps = _A1111_STEPS_RE.search(window)
        if steps and _A1111_KEY_RE.search(window, steps.end()):
            return True
    return False


def _parameters_evidence(metadata: ImageMetadata) -> str | None:
    text = {key.lower(): value for key, value in metadata.text.items()}
    if "parameters" in text and _has_a1111_settings(text["parameters"]):
        return "PNG 'parameters' chunk holds AUTOMATIC1111 generation settings"
    for key in ("prompt", "workflow"):
        if key in text and _looks_like_comfyui(text[key][:MAX_JSON_CHARS]):
            return f"PNG '{key}' chunk holds a ComfyUI workflow"
    for key, name in (
        ("invokeai_metadata", "InvokeAI"),
        ("sd-metadata", "InvokeAI"),
        ("fooocus_scheme", "Fooocus"),
    ):
        if key in text:
            return f"PNG '{key}' chunk holds {name} generation settings"
    software = text.get("software", "")[:MAX_FIELD_CHARS]
    if software.strip().lower() == "novelai" or "novelai" in text.get("source", "")[:MAX_FIELD_CHARS].lower():
        return "PNG text chunks name NovelAI as the source"
    for key in ("UserComment", "ImageDescription"):
        if _has_a1111_settings(metadata.exif.get(key, "")):
            return f"EXIF {key} holds AUTOMATIC1111 generation settings"
    return None


def _looks_like_comfyui(text: str) -> bool:
    """True if ``text`` (JSON, possibly cut short) is a ComfyUI graph: an object of nodes one of which has
    a ``class_type`` (API "prompt" format), or an object whose ``nodes`` list holds one with a ``type``
    ("workflow" format).

    Read token by token with an explicit stack, in linear time: the evidence is recognised on a prefix
    of a large graph, and nesting deeper than MAX_JSON_DEPTH ends the scan instead of the stack.
    """
    stack: list[list[str | None]] = []  # per open container: [kind "{" or "[", current key]
    pos, expect_key = 0, False
    while True:
        token = _JSON_TOKEN_RE.match(text, pos)
        if token is None:  # not JSON, or the end of the window
            return False
        pos = token.end()
        string, punctuation = token.group(1), token.group(2)
        if not stack and punctuation != "{":  # the document is not an object
            return False
        if punctuation in ("{", "["):
            if len(stack) >= MAX_JSON_DEPTH:
                return False
            stack.append([punctuation, None])
            expect_key = punctuation == "{"
        elif punctuation in ("}", "]"):
            if stack.pop()[0] != ("{" if punctuation == "}" else "["):
                return False
            if not stack:  # the whole document, without the evidence
                return False
            expect_key = False
        elif punctuation == ",":
            expect_key = stack[-1][0] == "{"
        elif punctuation == ":":
            expect_key = False
        elif string is not None and expect_key:
            stack[-1][1] = _json_key(string)
            if _is_comfyui_key(stack):
                return True
            expect_key = False


def _json_key(raw: str) -> str:
    """A JSON key as text (escapes decoded only when present, and only for short keys)."""
    if "\\" not in raw or len(raw) > 64:
        return raw
    try:
        return json.loads(f'"{raw}"')
    except ValueError:
        return raw


def _is_comfyui_key(stack: list[list[str | None]]) -> bool:
    """True if the key just read (``stack[-1][1]``) is where ComfyUI graphs keep their node types."""
    kinds = [kind for kind, _ in stack]
    key = stack[-1][1]
    if kinds == ["{", "{"]:  # {"3": {"class_type": "KSampler", ...}, ...}
        return key == "class_type"
    if kinds == ["{", "[", "{"]:  # {"nodes": [{"type": "KSampler", ...}, ...], ...}
        return stack[0][1] == "nodes" and key == "type"
    return False


def _software_evidence(metadata: ImageMetadata) -> str | None:
    candidates = [("EXIF Software", metadata.exif.get("Software", ""))]
    candidates += [(f"PNG '{k}'", v) for k, v in metadata.text.items() if k.lower() in ("software", "source")]
    for where, value in candidates:
        match = _SOFTWARE_RE.search((value or "")[:MAX_FIELD_CHARS])
        if match:
            return f"{where} names the generator '{printable(match.group(1))}'"
    return None


def _iptc_evidence(metadata: ImageMetadata) -> str | None:
    match = _SOURCE_TYPE_RE.search((metadata.xmp or "")[:MAX_XMP_CHARS])
    if match:
        return f"IPTC DigitalSourceType is '{match.group(1) or match.group(2)}'"
    return None


def c2pa_evidence(manifest_store: dict[str, Any]) -> str | None:
    """Evidence of generation in a C2PA manifest store (the JSON c2pa-python's ``Reader.json()`` gives).

    The store comes from the file, so every level is checked for its type: what is malformed is
    skipped, never an exception.
    """
    manifests = _mapping(manifest_store.get("manifests")) if isinstance(manifest_store, dict) else {}
    active = manifest_store.get("active_manifest") if isinstance(manifest_store, dict) else None
    ordered = [manifests[active]] if isinstance(active, str) and active in manifests else []
    ordered += [m for key, m in manifests.items() if key != active]
    for manifest in map(_mapping, ordered):
        for assertion in map(_mapping, _sequence(manifest.get("assertions"))):
            if not str(assertion.get("label", ""))[:MAX_FIELD_CHARS].startswith("c2pa.actions"):
                continue
            for action in map(_mapping, _sequence(_mapping(assertion.get("data")).get("actions"))):
                source_type = str(action.get("digitalSourceType", ""))[:MAX_FIELD_CHARS]
                name = source_type.rsplit("/", 1)[-1]
                if name in SYNTHETIC_SOURCE_TYPES:
                    verb = printable(str(action.get("action", "?")), limit=80)
                    return f"C2PA action '{verb}' declares digital source type '{name}'"
        generators = [manifest.get("claim_generator", "")]
        generators += [_mapping(g).get("name", "") for g in _sequence(manifest.get("claim_generator_info"))]
        for generator in generators:
            match = _SOFTWARE_RE.search(str(generator)[:MAX_FIELD_CHARS])
            if match:
                return f"C2PA claim generator is '{printable(match.group(1))}'"
    return None


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _sequence(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


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
        """The first piece of evidence found in one sample's metadata, or None.

        Each source is read on its own: one that fails (a malformed manifest, an undecodable file) does
        not hide evidence from another; if none gives evidence, the first failure is raised.
        """
        self._check_sources()
        checks: dict[str, Callable[[], str | None]] = {
            "iptc": lambda: _iptc_evidence(sample.metadata),
            "parameters": lambda: _parameters_evidence(sample.metadata),
            "software": lambda: _software_evidence(sample.metadata),
            "c2pa": lambda: (
                c2pa_evidence(read_c2pa(sample.data, sample.metadata.format) or {})
                if sample.metadata.has_c2pa
                else None
            ),
        }
        failure: Exception | None = None
        for source in SOURCES:
            if source not in self.sources:
                continue
            try:
                found = checks[source]()
            except Exception as err:  # hostile metadata: try the other sources, raise if none helps
                failure = failure or err
                continue
            if found:
                return found
        if failure is not None:
            raise failure
        return None

    def decide(self, samples: Sequence[Sample]) -> list[VetoDecision]:
        """1 with the evidence when found, else -1 (abstain); -1 saying why when the metadata of a
        sample cannot be read (one line), so one hostile file never stops the batch."""
        self._check_sources()
        decisions = []
        for sample in samples:
            try:
                found = self.evidence(sample) if self.enabled else None
            except Exception as err:
                decisions.append(
                    VetoDecision(self.name, -1, f"provenance metadata could not be read: {_one_line(err)}")
                )
                continue
            decisions.append(
                VetoDecision(self.name, 1, found)
                if found
                else VetoDecision(self.name, -1, "no provenance evidence")
            )
        return decisions

    def _check_sources(self) -> None:
        unknown = set(self.sources) - set(SOURCES)
        if unknown:
            raise ValueError(
                f"unknown provenance sources {sorted(unknown)}; use some of {', '.join(SOURCES)}"
            )


def _one_line(err: BaseException) -> str:
    """``Type: message`` of an exception on one printable line of at most 200 characters."""
    message = " ".join(str(err).split())
    return printable(f"{type(err).__name__}: {message}" if message else type(err).__name__, limit=200)
