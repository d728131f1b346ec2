from __future__ import annotations

import json
import pickle

import numpy as np
import pytest

import negate_sdk
from negate_sdk.artifacts import CARD_NAME, ArtifactError, atomic_write_bytes, read_card, write_card
from negate_sdk.conformance import conformance_samples
from negate_sdk.detectors import load_detector


@pytest.fixture
def saved_example(tmp_path):
    detector = negate_sdk.create_detector("example_colour_logistic").fit(conformance_samples(12))
    detector.save(tmp_path / "model")
    return tmp_path / "model", detector


def test_round_trip_gives_identical_scores(saved_example):
    path, detector = saved_example
    samples = conformance_samples(6, seed=1)
    loaded = load_detector(path)
    np.testing.assert_array_equal(loaded.predict_proba(samples), detector.predict_proba(samples))
    card = json.loads((path / CARD_NAME).read_text())
    assert card["format"] == "negate-detector" and card["detector"] == "example_colour_logistic"
    assert set(card["files"]) == {"weights.json"}


def test_a_planted_pickle_is_refused_before_anything_is_read(saved_example):
    path, _ = saved_example

    class Boom:
        def __reduce__(self):
            return (pytest.fail, ("the pickle was loaded",))

    (path / "model.pkl").write_bytes(pickle.dumps(Boom()))
    with pytest.raises(ArtifactError, match=r"unexpected file 'model\.pkl' not listed in the card"):
        load_detector(path)


def test_a_pickle_listed_in_a_forged_card_is_refused(saved_example):
    path, _ = saved_example
    (path / "weights.pkl").write_bytes(pickle.dumps({"a": 1}))
    card = json.loads((path / CARD_NAME).read_text())
    card["files"]["weights.pkl"] = "0" * 64
    (path / CARD_NAME).write_text(json.dumps(card))
    with pytest.raises(ArtifactError, match=r"unsafe file entry 'weights\.pkl'"):
        read_card(path)


def test_an_altered_weight_file_is_refused(saved_example):
    path, _ = saved_example
    weights = json.loads((path / "weights.json").read_text())
    weights["intercept"] += 1.0
    (path / "weights.json").write_text(json.dumps(weights))
    with pytest.raises(ArtifactError, match=r"'weights\.json' does not match its sha256"):
        load_detector(path)


def test_foreign_and_missing_cards_are_refused(tmp_path):
    with pytest.raises(ArtifactError, match="not a folder"):
        load_detector(tmp_path / "absent")
    with pytest.raises(ArtifactError, match=r"no detector\.json"):
        load_detector(tmp_path)
    (tmp_path / CARD_NAME).write_text('{"format": "something-else"}')
    with pytest.raises(ArtifactError, match="not a negate detector card"):
        load_detector(tmp_path)
    (tmp_path / CARD_NAME).write_text("{not json")
    with pytest.raises(ArtifactError, match="not valid JSON"):
        load_detector(tmp_path)


def test_a_card_naming_an_unknown_detector_says_so(tmp_path):
    write_card(tmp_path, {"detector": "dummmy"})
    with pytest.raises(
        ArtifactError, match="cannot load detector 'dummmy': unknown detector 'dummmy'; did you mean"
    ):
        load_detector(tmp_path)


def test_unsafe_weight_formats_cannot_be_saved(tmp_path):
    (tmp_path / "weights.pt").write_bytes(b"x")
    with pytest.raises(ValueError, match=r"refusing to save weights\.pt"):
        write_card(tmp_path, {"detector": "dummy"})


def test_atomic_write_leaves_no_temporary_files(tmp_path):
    atomic_write_bytes(tmp_path / "f.json", b"{}")
    atomic_write_bytes(tmp_path / "f.json", b"[1]")
    assert [p.name for p in tmp_path.iterdir()] == ["f.json"]
    assert (tmp_path / "f.json").read_bytes() == b"[1]"


def test_dummy_scores_depend_only_on_seed_and_bytes():
    samples = conformance_samples(5)
    a = negate_sdk.create_detector("dummy", seed=1).predict_proba(samples)[:, 1]
    b = negate_sdk.create_detector("dummy", seed=1).predict_proba(samples[::-1])[:, 1]
    c = negate_sdk.create_detector("dummy", seed=2).predict_proba(samples)[:, 1]
    np.testing.assert_array_equal(a, b[::-1])
    assert not np.allclose(a, c)
    import hashlib

    digest = hashlib.sha256(f"1:{samples[0].sha256}".encode()).digest()
    assert a[0] == int.from_bytes(digest[:8], "big") / 2**64
