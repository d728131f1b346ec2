"""The provenance veto on files the test writes with and without generation metadata."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image
from PIL.PngImagePlugin import PngInfo

import negate_sdk
from negate_sdk.api import Label, Sample, Thresholds
from negate_vetoes.provenance import ProvenanceVeto, c2pa_evidence

A1111 = (
    "a castle on a hill, golden hour\nNegative prompt: blurry\n"
    "Steps: 30, Sampler: DPM++ 2M Karras, CFG scale: 7, Seed: 1234, Size: 512x512, Model: sd_xl_base_1.0"
)
COMFY_PROMPT = {
    "3": {"class_type": "KSampler", "inputs": {"seed": 5, "steps": 20}},
    "4": {"class_type": "CheckpointLoaderSimple", "inputs": {}},
}
COMFY_WORKFLOW = {"last_node_id": 9, "nodes": [{"id": 3, "type": "KSampler", "widgets_values": [5, 20]}]}


def png(text=None, xmp=None, size=(32, 24)):
    info = PngInfo()
    for key, value in (text or {}).items():
        info.add_text(key, value)
    if xmp:
        info.add_itxt("XML:com.adobe.xmp", xmp)
    buffer = io.BytesIO()
    Image.new("RGB", size, (90, 140, 200)).save(buffer, format="PNG", pnginfo=info)
    return Sample.from_bytes(buffer.getvalue())


def jpeg(software=None, user_comment=None):
    exif = Image.Exif()
    if software:
        exif[0x0131] = software
    if user_comment:
        exif.get_ifd(0x8769)[0x9286] = user_comment
    buffer = io.BytesIO()
    Image.new("RGB", (32, 24), (200, 100, 50)).save(buffer, format="JPEG", exif=exif)
    return Sample.from_bytes(buffer.getvalue())


def xmp_packet(source_type):
    return (
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/" '
        f'Iptc4xmpExt:DigitalSourceType="http://cv.iptc.org/newscodes/digitalsourcetype/{source_type}"/>'
        "</rdf:RDF></x:xmpmeta>"
    )


@pytest.mark.parametrize(
    ("sample", "reason"),
    [
        (png({"parameters": A1111}), "PNG 'parameters' chunk holds AUTOMATIC1111 generation settings"),
        (png({"prompt": json.dumps(COMFY_PROMPT)}), "PNG 'prompt' chunk holds a ComfyUI workflow"),
        (png({"workflow": json.dumps(COMFY_WORKFLOW)}), "PNG 'workflow' chunk holds a ComfyUI workflow"),
        (png({"Software": "NovelAI", "Comment": "{}"}), "PNG text chunks name NovelAI as the source"),
        (
            png(xmp=xmp_packet("trainedAlgorithmicMedia")),
            "IPTC DigitalSourceType is 'trainedAlgorithmicMedia'",
        ),
        (jpeg(software="Midjourney v6"), "EXIF Software names the generator 'Midjourney'"),
        (jpeg(software="Adobe Firefly Image 3"), "EXIF Software names the generator 'Adobe Firefly'"),
        (jpeg(user_comment=A1111), "EXIF UserComment holds AUTOMATIC1111 generation settings"),
    ],
)
def test_evidence_is_found_with_its_reason(sample, reason):
    (decision,) = ProvenanceVeto().decide([sample])
    assert (decision.value, decision.reason) == (1, reason)


@pytest.mark.parametrize(
    "sample",
    [
        png(),
        png({"parameters": "just a caption a photographer wrote"}),
        png({"prompt": "a poem, not JSON"}),
        png({"Comment": "shot on film"}),
        png(xmp=xmp_packet("digitalCapture")),
        jpeg(),
        jpeg(software="Adobe Photoshop 25.0 (Windows)"),
        jpeg(software="GIMP 2.10.36"),
        jpeg(software="Lightroom Classic 13.1"),
    ],
)
def test_no_evidence_means_abstain(sample):
    (decision,) = ProvenanceVeto().decide([sample])
    assert decision.value == -1 and decision.reason == "no provenance evidence"


def test_disabled_or_restricted_veto_abstains():
    sample = png({"parameters": A1111})
    assert ProvenanceVeto(enabled=False).predict([sample]).tolist() == [-1]
    assert ProvenanceVeto(sources=("software",)).predict([sample]).tolist() == [-1]
    with pytest.raises(ValueError, match="unknown provenance sources"):
        ProvenanceVeto(sources=("exif",)).decide([sample])


def test_c2pa_manifest_evidence_from_the_reader_json_shape():
    store = {
        "active_manifest": "urn:uuid:1",
        "manifests": {
            "urn:uuid:1": {
                "claim_generator_info": [{"name": "ChatGPT", "version": "1.0"}],
                "assertions": [
                    {
                        "label": "c2pa.actions.v2",
                        "data": {
                            "actions": [
                                {
                                    "action": "c2pa.created",
                                    "digitalSourceType": "http://cv.iptc.org/newscodes/digitalsourcetype/"
                                    "trainedAlgorithmicMedia",
                                }
                            ]
                        },
                    }
                ],
            }
        },
    }
    assert (
        c2pa_evidence(store)
        == "C2PA action 'c2pa.created' declares digital source type 'trainedAlgorithmicMedia'"
    )
    store["manifests"]["urn:uuid:1"]["assertions"] = []
    assert c2pa_evidence(store) == "C2PA claim generator is 'ChatGPT'"
    store["manifests"]["urn:uuid:1"]["claim_generator_info"] = [{"name": "Leica camera firmware"}]
    assert c2pa_evidence(store) is None
    assert c2pa_evidence({}) is None


def test_an_unreadable_c2pa_segment_is_not_evidence():
    buffer = io.BytesIO()
    Image.new("RGB", (32, 24), (1, 2, 3)).save(buffer, format="JPEG")
    data = buffer.getvalue()
    payload = b"JP\x00\x01\x00\x00\x00\x01\x00\x00\x00\x20jumb\x00\x00\x00\x18jumdc2pa garbage"
    segment = b"\xff\xeb" + (len(payload) + 2).to_bytes(2, "big") + payload
    sample = Sample.from_bytes(data[:2] + segment + data[2:])
    assert sample.metadata.has_c2pa
    assert ProvenanceVeto().predict([sample]).tolist() == [-1]


def test_the_detector_raises_a_verdict_on_evidence():
    from negate_sdk.conformance import conformance_samples
    from negate_sdk.detectors import Detector

    detector = Detector(extractors=["example_colour_moments"], classifier="logistic", vetoes=["provenance"])
    detector.fit(conformance_samples(24))
    detector.thresholds_ = Thresholds(1.0, 1.0, 1.0)  # pixels alone call every image GENUINE
    plain, marked = png(), png({"parameters": A1111})
    np.testing.assert_array_equal(plain.pixels, marked.pixels)
    before, after = detector.verdicts([plain, marked])
    assert before.label is Label.GENUINE and len(before.reasons) == 1
    assert before.reasons[0].startswith(f"score {before.score:.3f} below t_genuine 1.000")
    assert after.label is Label.SYNTHETIC
    assert after.reasons[0] == "provenance: PNG 'parameters' chunk holds AUTOMATIC1111 generation settings"
    assert before.score == after.score  # the pixels, and so the score, are the same


def test_provenance_is_registered_as_a_raising_veto():
    entry = negate_sdk.get_veto("provenance")
    assert entry.metadata["effect"] == "raise"
    assert negate_sdk.create_veto("provenance").effect == "raise"
