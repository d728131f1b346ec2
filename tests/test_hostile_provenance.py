"""The provenance veto on hostile metadata: bounded time, no recursion, one-line abstentions.

Every pattern over untrusted text is run on adversarial input with a time bound; files are built
by the tests, and samples whose metadata the SDK would have capped are also built directly, so the
veto's own bounds are tested whatever loaded the metadata.
"""

from __future__ import annotations

import contextlib
import io
import json
import time
from typing import Any

import pytest
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from negate_sdk.api import Sample
from negate_sdk.imaging import ImageMetadata
from negate_vetoes import provenance
from negate_vetoes.provenance import (
    MAX_FIELD_CHARS,
    MAX_JSON_CHARS,
    MAX_XMP_CHARS,
    ProvenanceVeto,
    c2pa_evidence,
)

A1111_TAIL = "Steps: 30, Sampler: DPM++ 2M Karras, CFG scale: 7, Seed: 1234, Size: 512x512"
NO_EVIDENCE = (-1, "no provenance evidence")


@contextlib.contextmanager
def bounded(seconds: float):
    start = time.perf_counter()
    yield
    elapsed = time.perf_counter() - start
    assert elapsed < seconds, f"took {elapsed:.2f} s, bound {seconds} s"


def png_sample(text: dict[str, str], compressed: bool = True) -> Sample:
    info = PngInfo()
    for key, value in text.items():
        info.add_text(key, value, zip=compressed)
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), (5, 6, 7)).save(buffer, format="PNG", pnginfo=info)
    return Sample.from_bytes(buffer.getvalue())


class MetadataSample:
    """Just what the veto reads, with metadata as any loader might hand it over (nothing capped)."""

    def __init__(self, **fields: Any) -> None:
        defaults: dict[str, Any] = {
            "format": "PNG", "mode": "RGB", "width": 16, "height": 16, "orientation": 1, "n_frames": 1,
            "text": {}, "exif": {}, "xmp": None, "icc_profile": None, "has_c2pa": False, "jpeg_quality": None,
        }  # fmt: skip
        self.metadata = ImageMetadata(**{**defaults, **fields})
        self.data = b""


def decision(sample) -> tuple[int, str]:
    (made,) = ProvenanceVeto().decide([sample])
    return made.value, made.reason


# --- the two files of the issue ----------------------------------------------------------------------


def test_nested_json_prompt_png_abstains_without_recursion():
    sample = png_sample({"prompt": "[" * 100_000})
    assert len(sample.data) < 8_000  # a 7.5 KB file
    with bounded(0.5):
        assert decision(sample) == NO_EVIDENCE
    nested_objects = MetadataSample(text={"prompt": '{"a":' * 100_000, "workflow": "[" * 1_000_000})
    with bounded(0.5):
        assert decision(nested_objects) == NO_EVIDENCE


def test_backtracking_parameters_png_is_linear():
    # 990 KB of "Steps: 1 " made the old ".*" pattern backtrack for over 10 minutes
    sample = png_sample({"parameters": "Steps: 1 " * 110_000})
    assert len(sample.data) < 10_000  # a 9 KB file
    with bounded(0.5):
        assert decision(sample) == NO_EVIDENCE
    uncapped = MetadataSample(
        text={"parameters": "Steps: 1 " * 110_000}, exif={"UserComment": "Steps: 1 " * 110_000}
    )
    with bounded(0.5):
        assert decision(uncapped) == NO_EVIDENCE


# --- every pattern over untrusted text, adversarially ------------------------------------------------


@pytest.mark.parametrize(
    "fields",
    [
        {"exif": {"Software": "adobe" + " " * 2_000_000}},  # \s+ inside an alternative
        {"exif": {"Software": "stable-" * 500_000}},
        {"text": {"Software": "dall-" * 500_000, "source": "runway " * 500_000}},
        {"xmp": "DigitalSourceType::::" * 300_000},  # 6 MB
        {"xmp": "digitalsourcetype/trainedAlgorithmicMedi" * 150_000},
        {"text": {"prompt": '{"3":{' + '"k":"v",' * 500_000}},  # many tokens
        {"text": {"prompt": '{"' + "\\a" * 1_000_000}},  # an endless string with escapes
        {"text": {"workflow": '{"nodes":[' + "1," * 1_000_000}},
        {"exif": {"ImageDescription": "Steps: " + " " * 2_000_000 + "1"}},
    ],
    ids=[
        "software-spaces",
        "software-prefix",
        "software-text",
        "xmp-colons",
        "xmp-near-miss",
        "json-tokens",
        "json-string",
        "json-list",
        "a1111-spaces",
    ],
)
def test_patterns_run_in_bounded_time_on_adversarial_text(fields):
    with bounded(0.5):
        assert decision(MetadataSample(**fields)) == NO_EVIDENCE


def test_reads_are_windowed_where_real_evidence_lives():
    long_prompt = "a castle, " * 3_000  # 30 KB of prompt before the settings line
    assert decision(MetadataSample(text={"parameters": long_prompt + "\n" + A1111_TAIL})) == (
        1,
        "PNG 'parameters' chunk holds AUTOMATIC1111 generation settings",
    )
    # the settings in the middle of a huge field are in neither window
    middle = "x" * MAX_FIELD_CHARS + A1111_TAIL + "y" * MAX_FIELD_CHARS
    assert decision(MetadataSample(text={"parameters": middle})) == NO_EVIDENCE

    packet = 'Iptc4xmpExt:DigitalSourceType="http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"'
    padding = " " * (MAX_XMP_CHARS - len(packet) - 10)
    assert decision(MetadataSample(xmp=padding + packet)) == (
        1,
        "IPTC DigitalSourceType is 'trainedAlgorithmicMedia'",
    )
    assert decision(MetadataSample(xmp=padding + " " * 100 + packet)) == NO_EVIDENCE  # beyond the window


def comfy_prompt(first_text: str) -> str:
    """A ComfyUI API prompt whose first node is a text node (ids sort first) with a long prompt."""
    graph = {
        "1": {"inputs": {"text": first_text, "clip": ["4", 1]}, "class_type": "CLIPTextEncode"},
        "3": {"inputs": {"seed": 5, "steps": 20}, "class_type": "KSampler"},
    }
    return json.dumps(graph)


def test_comfyui_graphs_are_recognised_on_a_bounded_prefix():
    long = comfy_prompt("a very long prompt, " * 1_500)  # 30 KB before the first class_type
    assert len(long) > 30_000
    assert decision(MetadataSample(text={"prompt": long})) == (
        1,
        "PNG 'prompt' chunk holds a ComfyUI workflow",
    )
    cut = long[: len(long) // 2 + 16_000]  # not valid JSON any more: the prefix is enough
    assert decision(MetadataSample(text={"prompt": cut})) == (
        1,
        "PNG 'prompt' chunk holds a ComfyUI workflow",
    )
    beyond = comfy_prompt("x" * MAX_JSON_CHARS)
    assert decision(MetadataSample(text={"prompt": beyond})) == NO_EVIDENCE
    # through a real file: the SDK keeps the first 64 KiB of the chunk, and that is enough
    assert decision(png_sample({"prompt": long})) == (1, "PNG 'prompt' chunk holds a ComfyUI workflow")


def old_looks_like_comfyui(text: str) -> bool:
    """The veto's check before token scanning: json.loads then a structural test."""
    try:
        graph = json.loads(text)
    except json.JSONDecodeError:
        return False
    if isinstance(graph, dict) and "nodes" in graph and isinstance(graph["nodes"], list):
        return any(isinstance(n, dict) and "type" in n for n in graph["nodes"])
    if isinstance(graph, dict):
        return any(isinstance(node, dict) and "class_type" in node for node in graph.values())
    return False


@pytest.mark.parametrize(
    "document",
    [
        '{"3": {"class_type": "KSampler", "inputs": {}}}',
        '{"3": {"inputs": {"a": [1, {"b": null}], "c": "x"}, "class_type": "KSampler"}}',
        '{"last_node_id": 9, "nodes": [{"id": 3, "type": "KSampler"}]}',
        '{"nodes": [], "links": []}',
        '{"nodes": [1, "x", {"id": 2}]}',
        '{"3": {"note": "class_type"}}',  # a value, not a key
        '{"class_type": "KSampler"}',  # at the top level, not in a node
        '[{"class_type": "KSampler"}]',
        '{"3": [{"class_type": "KSampler"}]}',
        '{"3": {"class\\u005ftype": "KSampler"}}',  # an escaped key
        '{"a": {"nodes": [{"type": "x"}]}}',
        '"class_type"',
        "{}",
        "",
        "a poem, not JSON",
        '{"3": {"class_type": 1}, "4": 2, "5": true, "6": -1.5e3}',
    ],
)
def test_token_scan_agrees_with_parsing_the_whole_document(document):
    assert provenance._looks_like_comfyui(document) is old_looks_like_comfyui(document)


# --- decide() never raises for one sample -------------------------------------------------------------


class Exploding:
    """A sample whose metadata cannot be read."""

    data = b""

    def __init__(self, error: BaseException) -> None:
        self.error = error

    @property
    def metadata(self):
        raise self.error


def test_unreadable_metadata_is_a_one_line_abstention_and_the_batch_goes_on():
    good = MetadataSample(text={"parameters": A1111_TAIL})
    samples = [
        Exploding(RuntimeError("boom\nsecond line\x1b[2J")),
        Exploding(RecursionError("maximum recursion depth exceeded")),
        Sample.from_bytes(b"not an image at all"),
        good,
    ]
    decisions = ProvenanceVeto().decide(samples)
    assert [(d.value, d.reason) for d in decisions] == [
        (-1, "provenance metadata could not be read: RuntimeError: boom second line\\x1b[2J"),
        (-1, "provenance metadata could not be read: RecursionError: maximum recursion depth exceeded"),
        (
            -1,
            "provenance metadata could not be read: ImageError: not a supported image (unrecognised format)",
        ),
        (1, "PNG 'parameters' chunk holds AUTOMATIC1111 generation settings"),
    ]
    assert ProvenanceVeto().predict(samples).tolist() == [-1, -1, -1, 1]
    long = Exploding(ValueError("x" * 10_000))
    (made,) = ProvenanceVeto().decide([long])
    assert len(made.reason) <= len("provenance metadata could not be read: ") + 200


def test_a_failing_source_does_not_hide_evidence_from_another(monkeypatch):
    def broken(data, image_format):
        raise RecursionError("maximum recursion depth exceeded while decoding a JSON array")

    monkeypatch.setattr(provenance, "read_c2pa", broken)
    marked = MetadataSample(has_c2pa=True, text={"parameters": A1111_TAIL})
    assert decision(marked) == (1, "PNG 'parameters' chunk holds AUTOMATIC1111 generation settings")
    plain = MetadataSample(has_c2pa=True)
    assert decision(plain) == (
        -1,
        "provenance metadata could not be read: RecursionError: "
        "maximum recursion depth exceeded while decoding a JSON array",
    )
    with pytest.raises(RecursionError):  # evidence() itself still says what went wrong
        ProvenanceVeto().evidence(plain)
    with pytest.raises(ValueError, match="unknown provenance sources"):  # a configuration error is not hidden
        ProvenanceVeto(sources=("exif",)).decide([plain])


@pytest.mark.parametrize(
    "store",
    [
        {"manifests": []},
        {"manifests": {"a": []}},
        {"active_manifest": ["unhashable"], "manifests": {"a": {"assertions": {"label": 1}}}},
        {"manifests": {"a": {"assertions": [None, 3, {"label": "c2pa.actions", "data": []}]}}},
        {"manifests": {"a": {"assertions": [{"label": "c2pa.actions", "data": {"actions": [None, "x"]}}]}}},
        {"manifests": {"a": {"claim_generator": None, "claim_generator_info": [None, {"name": 5}]}}},
        [],
        "not a store",
    ],
)
def test_malformed_c2pa_stores_give_no_evidence_and_no_exception(store):
    assert c2pa_evidence(store) is None


def test_reasons_quoting_the_file_are_printable():
    store = {
        "manifests": {
            "a": {
                "assertions": [
                    {
                        "label": "c2pa.actions.v2",
                        "data": {
                            "actions": [
                                {
                                    "action": "\x1b[2J\x1b]0;x\x07",
                                    "digitalSourceType": "t/trainedAlgorithmicMedia",
                                }
                            ]
                        },
                    }
                ]
            }
        }
    }
    assert c2pa_evidence(store) == (
        "C2PA action '\\x1b[2J\\x1b]0;x\\x07' declares digital source type 'trainedAlgorithmicMedia'"
    )
    # \s in a generator pattern matches control whitespace such as U+001F
    assert decision(MetadataSample(exif={"Software": "Adobe\x1fFirefly"})) == (
        1,
        "EXIF Software names the generator 'Adobe\\x1fFirefly'",
    )
