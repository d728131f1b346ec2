"""Every registered component, ours and the example plugin's, through the one conformance suite."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from conftest import make_default_host
from sklearn.linear_model import LogisticRegression

from negate_sdk.api import BaseExtractor, BaseVeto, Sample, VetoDecision, VetoEffect
from negate_sdk.conformance import (
    check_classifier,
    check_entry,
    check_extractor,
    check_veto,
    conformance_samples,
)
from negate_sdk.registry import KINDS

ENTRIES = [(kind, name) for kind in KINDS for name in make_default_host().registry(kind).names()]


@pytest.mark.parametrize(("kind", "name"), ENTRIES, ids=[f"{k}:{n}" for k, n in ENTRIES])
def test_registered_component_conforms(kind, name, default_host, tmp_path):
    check_entry(default_host.registry(kind).get(name), tmp_path / "saved")


def test_the_registry_holds_the_builtin_and_example_components():
    assert ("detector", "dummy") in ENTRIES
    assert ("detector", "example_colour_logistic") in ENTRIES
    assert ("extractor", "example_colour_moments") in ENTRIES


def test_conformance_samples_are_varied_and_labelled():
    samples = conformance_samples(8)
    shapes = {s.pixels.shape for s in samples}
    assert len(shapes) == 8 and (8, 8, 3) in shapes
    assert [s.label for s in samples] == [0, 1] * 4
    assert len({s.sha256 for s in samples}) == 8


class Float64Extractor(BaseExtractor):
    name = "bad64"
    version = "1"

    def feature_names(self):
        return ["x"]

    def transform(self, samples):
        return np.ones((len(samples), 1))


class BatchDependentExtractor(BaseExtractor):
    """Normalises by the batch mean: features of an image depend on its neighbours (a real bug)."""

    name = "batchdep"
    version = "1"

    def feature_names(self):
        return ["brightness"]

    def transform(self, samples):
        values = np.array([[s.pixels.mean()] for s in samples], dtype=np.float32)
        return values - values.mean() if len(samples) else values


class NaNExtractor(BaseExtractor):
    name = "nan"
    version = "1"

    def feature_names(self):
        return ["ratio"]

    def features(self, pixels):
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.array([np.float64(pixels.std()) / 0.0])


class BadParams(BaseExtractor):
    name = "badparams"
    version = "1"

    def __init__(self, scale: float = 1.0) -> None:
        self.scale = float(scale) * 2  # a constructor that does not store its parameter unchanged

    def feature_names(self):
        return ["x"]

    def features(self, pixels):
        return np.array([1.0])


class InPlaceExtractor(BaseExtractor):
    """Centres the pixels in place: every later extractor of the sample would read corrupted pixels."""

    name = "inplace"
    version = "1"

    def feature_names(self):
        return ["mean"]

    def features(self, pixels):
        pixels -= pixels.min()
        return np.array([pixels.mean()])


class UnlockingExtractor(BaseExtractor):
    """Makes the pixels writeable again and changes one of them (caught by comparing afterwards)."""

    name = "unlocking"
    version = "1"

    def feature_names(self):
        return ["first"]

    def features(self, pixels):
        value = float(pixels[0, 0, 0])
        pixels.setflags(write=True)
        pixels[0, 0, 0] = 7
        return np.array([value])


@pytest.mark.parametrize(
    ("extractor", "message"),
    [
        (InPlaceExtractor(), "transform must not write into the input pixels \\(.*read-only"),
        (UnlockingExtractor(), "transform must not change the input pixels \\(changed: conformance-0\\)"),
        (Float64Extractor(), "float32"),
        (BatchDependentExtractor(), "batch != one-at-a-time"),
        (NaNExtractor(), "non-finite features: \\['nan__ratio'\\]"),
        (BadParams(), "constructor does not store its parameters"),
    ],
)
def test_the_suite_catches_broken_extractors(extractor, message):
    with pytest.raises(AssertionError, match=message):
        check_extractor(extractor)


class AlwaysDowngrade(BaseVeto):
    name = "always"
    effect = VetoEffect.RAISE

    def decide(self, samples):
        return [VetoDecision(self.name, 0, "says genuine") for _ in samples]


def test_the_suite_catches_a_raise_veto_returning_genuine():
    with pytest.raises(AssertionError, match="only returns \\(-1, 1\\)"):
        check_veto(AlwaysDowngrade())


def test_sklearn_logistic_regression_is_a_classifier():
    check_classifier(LogisticRegression())


def test_sample_pixels_are_read_only_and_the_callers_array_is_not_frozen():
    array = np.zeros((9, 11, 3), dtype=np.uint8)
    sample = Sample.from_array(array)
    with pytest.raises(ValueError, match="read-only"):
        sample.pixels[0, 0, 0] = 1
    assert array.flags.writeable  # a read-only view: the caller's own array is left as it was
    assert not pickle.loads(pickle.dumps(sample)).pixels.flags.writeable  # also in another process
    decoded = Sample.from_bytes(sample.data)  # a lossless PNG, decoded on first use
    assert not decoded.pixels.flags.writeable
    assert np.array_equal(decoded.pixels, array)
    with pytest.raises(ValueError, match="read-only"):
        InPlaceExtractor().transform([decoded])
