"""The Detector composition: fit on validation-carved data, verdicts, vetoes, params and artifacts."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
from PIL import Image

import negate_sdk
from negate_sdk import hookimpl
from negate_sdk.api import BaseExtractor, BaseVeto, Label, Sample, VetoDecision, VetoEffect
from negate_sdk.artifacts import ArtifactError
from negate_sdk.detectors import Detector, load_detector
from negate_sdk.splits import stratified_split


class Brightness(BaseExtractor):
    """Mean brightness and its square, scaled by ``gain`` (a parameter to tune through set_params)."""

    name = "test_brightness"
    version = "1"

    def __init__(self, gain: float = 1.0) -> None:
        self.gain = gain

    def feature_names(self):
        return ["mean", "mean_sq"]

    def features(self, pixels):
        m = pixels.mean() / 255.0 * self.gain
        return np.array([m, m * m])


class Always(BaseVeto):
    """Returns a fixed decision: a test double for veto ordering."""

    name = "test_always"

    def __init__(self, value: int = 0, effect: str = "downgrade") -> None:
        self.value = value
        self.effect = effect

    def decide(self, samples):
        return [VetoDecision(self.name, self.value, f"always {self.value}") for _ in samples]


class TestPlugin:
    @hookimpl
    def negate_register_extractors(self, register):
        register("test_brightness", Brightness)

    @hookimpl
    def negate_register_vetoes(self, register):
        register("test_always", Always)


@pytest.fixture(autouse=True)
def test_plugin(default_host):
    default_host.add_plugin(TestPlugin(), "test_plugin")
    yield
    default_host.remove_plugin("test_plugin")


def brightness_samples(n=120, seed=0, overlap=0.08):
    """Reals darker than synthetics, with overlapping brightness distributions."""
    rng = np.random.default_rng(seed)
    samples = []
    for i in range(n):
        label = i % 2
        level = np.clip(rng.normal(0.45 + 0.1 * label, overlap), 0.05, 0.95)
        pixels = np.clip(rng.normal(level * 255, 10, size=(12, 14, 3)), 0, 255).astype(np.uint8)
        samples.append(Sample.from_array(pixels, id=f"s{i}", label=label))
    return samples


def make(**params):
    return Detector(extractors=["test_brightness"], classifier="logistic", **params)


def test_fit_learns_and_thresholds_respect_the_validation_fpr():
    samples = brightness_samples(400)
    detector = make(target_fpr=0.05, target_miss=0.05).fit(samples)
    metrics = detector.validation_metrics_
    assert metrics["n"] == 80 and metrics["auc"] > 0.75
    assert metrics["fpr_at_t_synthetic"] <= 0.05 and metrics["miss_at_t_genuine"] <= 0.05
    assert 0 < metrics["uncertain_rate"] < 1  # overlapping classes leave an UNCERTAIN band
    assert detector.thresholds.t_genuine < detector.thresholds.t_synthetic
    test = brightness_samples(400, seed=1)
    scores = detector.predict_proba(test)[:, 1]
    y = np.array([s.label for s in test])
    assert np.mean(detector.predict(test) == y) > 0.7
    verdicts = detector.verdicts(test)
    labels = np.array([v.label.value for v in verdicts])
    assert np.mean(labels[y == 0] == "SYNTHETIC") < 0.15  # fresh FPR stays near target
    np.testing.assert_allclose([v.score for v in verdicts], scores)


def test_validation_is_carved_from_training_data_only():
    train, val = stratified_split(np.array([0, 1] * 50), 0.2, seed=3)
    assert len(val) == 20 and len(set(train) | set(val)) == 100 and not set(train) & set(val)
    again = stratified_split(np.array([0, 1] * 50), 0.2, seed=3)
    np.testing.assert_array_equal(again[1], val)
    strata = [(i % 2, "a" if i < 60 else "b") for i in range(100)]
    _, val_strata = stratified_split(np.array([0, 1] * 50), 0.2, seed=3, strata=strata)
    assert sum(1 for i in val_strata if i >= 60) == 8  # 20% of each of the four strata


def test_precomputed_features_give_the_same_detector():
    samples = brightness_samples(80)
    a = make().fit(samples)
    X = a.extract(samples)
    b = make().fit(samples, features=X)
    np.testing.assert_array_equal(a.predict_proba(samples), b.predict_proba(samples, features=X))
    with pytest.raises(ValueError, match="features have 3 columns"):
        a.predict_proba(samples, features=np.zeros((80, 3)))


def test_nested_params_reach_extractors_and_head():
    detector = Detector(
        extractors=[negate_sdk.create_extractor("test_brightness")],
        classifier=negate_sdk.create_classifier("logistic"),
    )
    detector.set_params(classifier__C=0.1, extractors__test_brightness__gain=2.0, target_fpr=0.02)
    params = detector.get_params()
    assert params["classifier__C"] == 0.1 and params["extractors__test_brightness__gain"] == 2.0
    assert detector.target_fpr == 0.02
    with pytest.raises(ValueError, match="components are: test_brightness"):
        detector.set_params(extractors__spectral__x=1)


def test_save_load_round_trip_gives_identical_scores_and_a_complete_card(tmp_path):
    samples = brightness_samples(100)
    detector = make(vetoes=["provenance"]).fit(samples)
    detector.set_training_info(dataset="unit", manifest_hash="abc123", trained_on=["unit"])
    detector.save(tmp_path / "model")
    loaded = load_detector(tmp_path / "model")
    np.testing.assert_array_equal(loaded.predict_proba(samples), detector.predict_proba(samples))
    assert loaded.thresholds == detector.thresholds
    assert [v.label for v in loaded.verdicts(samples)] == [v.label for v in detector.verdicts(samples)]
    card = json.loads((tmp_path / "model" / "detector.json").read_text())
    assert card["extractors"] == [
        {
            "name": "test_brightness",
            "version": "1",
            "cache_key": Brightness().cache_key,
            "params": {"gain": 1.0},
        }
    ]
    assert card["feature_names"] == ["test_brightness__mean", "test_brightness__mean_sq"]
    assert card["trained_on"] == ["unit"] and card["training"]["manifest_hash"] == "abc123"
    assert card["thresholds"]["t_synthetic"] == detector.thresholds.t_synthetic
    assert card["vetoes"] == [
        {
            "name": "provenance",
            "params": {"enabled": True, "sources": ["c2pa", "iptc", "parameters", "software"]},
        }
    ]
    assert set(card["validation_metrics"]) >= {"auc", "brier", "fpr_at_t_synthetic", "uncertain_rate"}


def test_a_pickle_planted_in_a_model_folder_is_refused(tmp_path):
    make().fit(brightness_samples(40)).save(tmp_path / "model")
    (tmp_path / "model" / "classifier.pkl").write_bytes(pickle.dumps(object()))
    with pytest.raises(ArtifactError, match=r"unexpected file 'classifier\.pkl'"):
        load_detector(tmp_path / "model")


def test_a_changed_extractor_version_is_refused(tmp_path, monkeypatch):
    make().fit(brightness_samples(40)).save(tmp_path / "model")
    monkeypatch.setattr(Brightness, "version", "2")
    with pytest.raises(ArtifactError, match="version 2 here but the detector was trained with version 1"):
        load_detector(tmp_path / "model")


def test_every_head_saves_and_loads(tmp_path):
    samples = brightness_samples(120)
    for head in ("logistic", "svm", "random_forest", "lightgbm", "xgboost", "ensemble"):
        detector = Detector(extractors=["test_brightness"], classifier=head).fit(samples)
        loaded = load_detector(detector.save(tmp_path / head))
        np.testing.assert_array_equal(
            loaded.predict_proba(samples), detector.predict_proba(samples), err_msg=head
        )


def test_a_plain_sklearn_classifier_is_saved_with_skops(tmp_path):
    from sklearn.tree import DecisionTreeClassifier

    samples = brightness_samples(60)
    detector = Detector(
        extractors=["test_brightness"], classifier=DecisionTreeClassifier(random_state=0)
    ).fit(samples)
    loaded = load_detector(detector.save(tmp_path / "tree"))
    np.testing.assert_array_equal(loaded.predict_proba(samples), detector.predict_proba(samples))


@pytest.mark.parametrize(
    ("vetoes", "expected_label", "applied"),
    [
        ([("test_always", {"value": 0, "effect": "downgrade"})], Label.UNCERTAIN, [True]),
        ([("test_always", {"value": -1, "effect": "downgrade"})], Label.SYNTHETIC, [False]),
        # evidence wins: the raising veto applies after the downgrade
        (
            [
                ("test_always", {"value": 0, "effect": "downgrade"}),
                ("test_always", {"value": 1, "effect": "raise"}),
            ],
            Label.SYNTHETIC,
            [True, True],
        ),
    ],
)
def test_veto_order_and_effects(vetoes, expected_label, applied):
    samples = brightness_samples(80)
    detector = make().fit(samples)
    detector.vetoes_ = [Always(**params) for _, params in vetoes]
    synthetic = [
        s for s, v in zip(samples, make().fit(samples).verdicts(samples)) if v.label is Label.SYNTHETIC
    ]
    verdict = detector.verdicts(synthetic[:1])[0]
    assert verdict.label is expected_label
    assert [d.applied for d in verdict.vetoes] == applied


def test_a_raise_veto_lifts_a_genuine_verdict():
    samples = brightness_samples(80)
    detector = make().fit(samples)
    detector.vetoes_ = [Always(value=1, effect="raise")]
    genuine = [s for s, v in zip(samples, make().fit(samples).verdicts(samples)) if v.label is Label.GENUINE]
    verdict = detector.verdicts(genuine[:1])[0]
    assert verdict.label is Label.SYNTHETIC and verdict.reasons[0] == "test_always: always 1"
    assert len(verdict.reasons) == 2 and verdict.reasons[1].startswith("score 0.")
    assert VetoEffect(detector.vetoes_[0].effect) is VetoEffect.RAISE


def test_verdicts_continue_past_unreadable_files(tmp_path):
    detector = make().fit(brightness_samples(60))
    good = tmp_path / "good.png"
    Image.new("RGB", (20, 20), (120, 120, 120)).save(good)
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 truncated")
    verdicts = detector.verdicts([Sample.from_path(good), Sample.from_path(bad), Sample.from_path(good)])
    assert [v.error is None for v in verdicts] == [True, False, True]
    assert (
        verdicts[1].error.startswith("corrupt or truncated image")
        or "not a supported image" in verdicts[1].error
    )
    assert verdicts[0].score == verdicts[2].score


def test_top_features_come_from_the_head_attributions():
    samples = brightness_samples(80)
    detector = make(top_features=1).fit(samples)
    verdict = detector.verdicts(samples[:1])[0]
    ((name, value),) = verdict.top_features
    assert name in detector.feature_names_
    contributions = detector.classifier_.contributions(detector.extract(samples[:1]))[0]
    j = int(np.argmax(np.abs(contributions)))
    assert (name, value) == (detector.feature_names_[j], pytest.approx(contributions[j]))
    # without attributions (what the harness asks for) the same verdicts, minus the top features
    plain = detector.verdicts(samples[:5], attributions=False)
    full = detector.verdicts(samples[:5])
    assert [(v.score, v.label) for v in plain] == [(v.score, v.label) for v in full]
    assert all(not v.top_features and not v.groups for v in plain)


def test_too_few_images_is_a_clear_error():
    with pytest.raises(ValueError, match="at least 4 images of each class; got 3 real, 3 synthetic"):
        make().fit(brightness_samples(6))


def test_unfitted_detector_says_so():
    with pytest.raises(ValueError, match="not fitted"):
        make().predict_proba(brightness_samples(2))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf, 1e300])
def test_a_non_finite_feature_is_that_images_error_never_a_verdict(bad):
    samples = brightness_samples(60)
    detector = make().fit(samples)
    X = detector.extract(samples[:3]).astype(np.float64)
    X[1, 0] = bad  # 1e300 overflows the float32 features to inf
    verdicts = detector.verdicts(samples[:3], features=X)
    assert verdicts[1].error == "features of test_brightness are not finite (NaN or infinite)"
    assert np.isnan(verdicts[1].score) and verdicts[1].label is Label.UNCERTAIN
    assert [v.error for v in (verdicts[0], verdicts[2])] == [None, None]
    assert [v.score for v in (verdicts[0], verdicts[2])] == [
        v.score for v in detector.verdicts(samples[:3:2])
    ]
    with pytest.raises(ValueError, match="features of test_brightness are not finite"):
        make().fit(samples, features=np.where(np.arange(60)[:, None] == 5, np.nan, detector.extract(samples)))
