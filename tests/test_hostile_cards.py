"""Damaged or hostile model folders: one line naming the file and what is wrong, never a hang, never a
file outside the folder."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import pytest

import negate_sdk
from negate_sdk.artifacts import CARD_NAME, ArtifactError, file_sha256
from negate_sdk.conformance import conformance_samples
from negate_sdk.detectors import Detector, load_detector


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A saved composite and a saved trainable detector (templates copied by each test)."""
    root = tmp_path_factory.mktemp("saved")
    samples = conformance_samples(12)
    Detector(extractors=["colour"]).fit(samples).save(root / "composite")
    params = negate_sdk.get_detector("saturate_cnn").metadata["test_params"]
    negate_sdk.create_detector("saturate_cnn", **params).fit(samples).save(root / "trainable")
    return root


def copy_of(saved: Path, kind: str, tmp_path: Path) -> Path:
    target = tmp_path / kind
    target.mkdir()
    for file in (saved / kind).iterdir():
        (target / file.name).write_bytes(file.read_bytes())
    return target


def forge(folder: Path, change) -> None:
    """Edit the card with ``change(card)`` and re-list every file's sha256, as an attacker would."""
    card = json.loads((folder / CARD_NAME).read_text())
    change(card)
    card["files"] = {
        name: file_sha256(folder / name) if (folder / name).is_file() else digest
        for name, digest in card["files"].items()
    }
    (folder / CARD_NAME).write_text(json.dumps(card))


def refusal(folder: Path) -> str:
    """The one-line reason loading ``folder`` is refused (within a few seconds: never a hang)."""
    outcome: dict = {}

    def load() -> None:
        try:
            load_detector(folder)
            outcome["loaded"] = True
        except ArtifactError as err:
            outcome["error"] = str(err)

    worker = threading.Thread(target=load, daemon=True)
    start = time.perf_counter()
    worker.start()
    worker.join(20)
    assert not worker.is_alive(), "loading hung"
    assert "error" in outcome, f"loaded a hostile folder in {time.perf_counter() - start:.1f} s"
    assert "\n" not in outcome["error"]
    return outcome["error"]


def test_a_card_cannot_load_weights_from_outside_its_folder(saved, tmp_path):
    folder = copy_of(saved, "trainable", tmp_path)
    outside = tmp_path / "elsewhere.safetensors"
    outside.write_bytes((folder / "model.safetensors").read_bytes())
    (folder / "model.safetensors").unlink()
    forge(folder, lambda c: (c.update(weights=str(outside)), c["files"].clear()))
    assert "'weights' must be a file name in the folder" in refusal(folder)
    forge(folder, lambda c: c.update(weights="../elsewhere.safetensors"))
    assert "'weights' must be a file name in the folder" in refusal(folder)


def test_a_listed_symlink_fifo_or_device_is_refused_without_reading_it(saved, tmp_path):
    folder = copy_of(saved, "trainable", tmp_path)
    (folder / "model.safetensors").unlink()
    os.mkfifo(folder / "model.safetensors")  # hashing it would block forever
    assert "model.safetensors: weight file is a FIFO, not a regular file" in refusal(folder)
    (folder / "model.safetensors").unlink()
    (folder / "model.safetensors").symlink_to("/dev/zero")  # reading it would never end
    assert "model.safetensors: weight file is a symlink, not a regular file" in refusal(folder)


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        (lambda c: c.pop("thresholds"), "'thresholds' must be an object"),
        (
            lambda c: c["thresholds"].update(t_genuine=2.0),
            "'thresholds.t_genuine' must be a number in [0, 1]",
        ),
        (
            lambda c: c["thresholds"].update(t_genuine=0.9, t_synthetic=0.1),
            "must have t_genuine <= t_synthetic",
        ),
        (
            lambda c: c["params"].update(no_such_parameter=1),
            "the card's parameters do not fit 'saturate_cnn'",
        ),
        (lambda c: c.update(params=[1, 2]), "'params' must be an object"),
        (lambda c: c.update(calibrator={"method": "magic"}), "unknown calibration method 'magic'"),
        (
            lambda c: c.update(calibrator={"method": "sigmoid", "a": 1}),
            "sigmoid calibrator needs exactly a, b",
        ),
        (lambda c: c.update(model_format=99), "model format 99 is not supported"),
        (lambda c: c.update(vetoes=[{"name": "provenance"}]), "'vetoes[0].params' must be an object"),
        (lambda c: c.update(trained_on="dev"), "'trained_on' must be a list of dataset names"),
    ],
)
def test_malformed_cards_are_one_line_naming_the_field(saved, tmp_path, change, fragment):
    folder = copy_of(saved, "trainable", tmp_path)
    forge(folder, change)
    assert fragment in refusal(folder)


def test_nan_thresholds_and_deeply_nested_json_are_refused(saved, tmp_path):
    folder = copy_of(saved, "composite", tmp_path)
    text = (folder / CARD_NAME).read_text()
    card = json.loads(text)
    threshold = json.dumps(card["thresholds"]["t_genuine"])
    (folder / CARD_NAME).write_text(text.replace(f'"t_genuine": {threshold}', '"t_genuine": NaN', 1))
    assert "detector.json" in refusal(folder)
    (folder / CARD_NAME).write_text(
        '{"format": "negate-detector", "x": ' + "[" * 100_000 + "]" * 100_000 + "}"
    )
    assert "detector.json" in refusal(folder)


def test_composite_card_fields_are_checked(saved, tmp_path):
    folder = copy_of(saved, "composite", tmp_path)
    names = json.loads((folder / CARD_NAME).read_text())["feature_names"]
    forge(folder, lambda c: c.update(extractors=[]))
    assert "'extractors' must name at least one extractor" in refusal(folder)
    forge(folder, lambda c: c.update(extractors=[{"name": "colour", "version": "1", "params": {}}],
                                     feature_names="colour__mean_r"))  # fmt: skip
    assert "'feature_names' must be a list" in refusal(folder)
    forge(
        folder, lambda c: (c.update(feature_names=names), c["classifier"]["state"].update(file="/etc/passwd"))
    )
    assert "not a plain file name" in refusal(folder)
