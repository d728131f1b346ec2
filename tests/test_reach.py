"""Reach: the leave-one-source-out proxy, verdict shares per class, and verdicts that state their reasons."""

from __future__ import annotations

import re

import numpy as np
import pytest
from test_bench_run import write_dataset

from negate_sdk.artifacts import ArtifactError
from negate_sdk.bench import protocols
from negate_sdk.bench.metrics import compute_metrics
from negate_sdk.bench.records import prediction_record
from negate_sdk.conformance import conformance_samples
from negate_sdk.detectors import Detector
from negate_sdk.manifests import resolve_dataset
from negate_sdk.novelty import NearestNeighbourNovelty


def test_leave_one_source_out_holds_each_source_out_once(tmp_path):
    manifest = resolve_dataset(write_dataset(tmp_path / "data", n_per_group=6))
    folds = protocols.leave_one_source_out(manifest, seed=0)
    assert [f.name for f in folds] == ["heldout-source:alpha", "heldout-source:beta"]
    for fold, held_out in zip(folds, ("alpha", "beta")):
        assert {r.source for r in fold.train} == {"alpha", "beta"} - {held_out}
        assert {r.source for r in fold.test} == {held_out}
        assert fold.info["held_out_source"] == held_out
    one_source = type(manifest)(manifest.header, [r for r in manifest.rows if r.source == "alpha"])
    with pytest.raises(ValueError, match="needs two sources or more"):
        protocols.leave_one_source_out(one_source, seed=0)


def test_verdict_shares_per_class_are_counted_by_hand():
    y = np.array([0, 0, 0, 0, 1, 1, 1])
    score = np.array([0.1, 0.5, 0.9, 0.2, 0.95, 0.5, 0.05])
    uncertain = np.array([0, 1, 0, 0, 0, 1, 0], bool)
    synthetic = np.array([0, 0, 1, 0, 1, 0, 0], bool)
    novel = np.array([0, 1, 0, 0, 0, 0, 0], bool)
    metrics = compute_metrics(y, score, synthetic.astype(int), uncertain, synthetic, novel, n_boot=50)
    assert metrics["synthetic_share_real"]["value"] == 1 / 4 and metrics["synthetic_share_real"]["n"] == 4
    assert metrics["uncertain_share_real"]["value"] == 1 / 4
    assert metrics["synthetic_share_fake"]["value"] == 1 / 3 and metrics["synthetic_share_fake"]["n"] == 3
    assert metrics["uncertain_share_fake"]["value"] == 1 / 3
    assert metrics["novel_share_real"]["value"] == 1 / 4 and metrics["novel_share_fake"]["value"] == 0


def test_every_verdict_states_its_band_and_the_feature_groups_that_moved_it():
    samples = conformance_samples(16)
    detector = Detector(extractors=["colour", "spectral"], classifier="logistic").fit(samples)
    X = detector.extract(samples)
    contributions = detector.classifier_.contributions(X)  # (n, d) log-odds terms of the linear head
    names = [n.split("__")[0] for n in detector.feature_names_]
    for k, verdict in enumerate(detector.verdicts(samples)):
        by_group = {g: contributions[k][[n == g for n in names]].sum() for g in ("colour", "spectral")}
        expected = sorted(by_group.items(), key=lambda item: -abs(item[1]))
        assert [name for name, _ in verdict.groups] == [name for name, _ in expected]
        np.testing.assert_allclose([v for _, v in verdict.groups], [v for _, v in expected], rtol=1e-9)
        (reason,) = verdict.reasons
        band = {"SYNTHETIC": "at or above t_synthetic", "GENUINE": "below t_genuine",
                "UNCERTAIN": "between t_genuine"}[verdict.label.value]  # fmt: skip
        assert reason.startswith(f"score {verdict.score:.3f} {band}")
        assert f"moved most by {expected[0][0]} {expected[0][1]:+.2f}" in reason


def test_novelty_distances_and_threshold_match_a_brute_force_reference():
    from scipy.spatial.distance import cdist

    rng = np.random.default_rng(0)
    train = rng.normal(size=(300, 4)) * [1.0, 10.0, 0.1, 3.0] + [0.0, 5.0, -2.0, 1.0]
    validation = rng.normal(size=(80, 4)) * [1.0, 10.0, 0.1, 3.0] + [0.0, 5.0, -2.0, 1.0]
    model = NearestNeighbourNovelty(k=3, quantile=0.9, max_reference=200).fit(train, validation)
    assert model.reference_.shape == (200, 4)  # a seeded sample of the training rows
    mean, std = train.mean(0), train.std(0)

    def brute(X):
        d = np.sort(cdist((X - mean) / std, model.reference_.astype(np.float64)), axis=1)
        return d[:, :3].mean(1)

    queries = np.vstack([validation, rng.normal(size=(20, 4)) * 50])
    np.testing.assert_allclose(model.distances(queries), brute(queries), rtol=1e-4, atol=1e-4)
    assert model.threshold_ == pytest.approx(np.quantile(brute(validation), 0.9), rel=1e-4)
    ratios = model.ratios(queries)
    assert np.mean(ratios[:80] > 1) == pytest.approx(0.1, abs=0.02)  # in distribution: 1 - quantile
    assert np.all(ratios[80:] > 1)  # 50 standard deviations out: every one is novel
    with pytest.raises(ValueError, match="quantile"):
        NearestNeighbourNovelty(quantile=1.0)


def test_novelty_round_trips_and_refuses_a_hostile_reference(tmp_path):
    rng = np.random.default_rng(1)
    model = NearestNeighbourNovelty().fit(rng.normal(size=(50, 3)), rng.normal(size=(10, 3)))
    state = model.save(tmp_path, "novelty")
    X = rng.normal(size=(7, 3)) * 4
    loaded = NearestNeighbourNovelty.load(tmp_path, state, 3)
    np.testing.assert_array_equal(loaded.ratios(X), model.ratios(X))
    from safetensors.numpy import save

    def write(name, **tensors):
        (tmp_path / f"{name}.safetensors").write_bytes(save(tensors))
        return {**state, "reference": f"{name}.safetensors"}

    hostile = {
        "(m, 3) float32": write("wide", reference=np.zeros((4, 5), np.float32)),
        "not finite": write("nan", reference=np.full((4, 3), np.nan, np.float32)),
        "float64 (4, 3)": write("f64", reference=np.zeros((4, 3), np.float64)),
        "one 'reference' tensor": write(
            "two", reference=np.zeros((4, 3), np.float32), extra=np.zeros(1, np.float32)
        ),
    }
    for message, bad in hostile.items():
        with pytest.raises(ArtifactError, match=re.escape(message)):
            NearestNeighbourNovelty.load(tmp_path, bad, 3)
    for message, bad in {
        "threshold": {**state, "threshold": -1.0},
        "shape": {**state, "scale": [1.0, 2.0]},
        "scales must be positive": {**state, "scale": [1.0, 0.0, 1.0]},
        "plain file name": {**state, "reference": "../novelty.safetensors"},
        "bad parameters": {**state, "params": {"k": 5, "quantile": 7}},
        "not a novelty state": [],
    }.items():
        with pytest.raises(ArtifactError, match=message):
            NearestNeighbourNovelty.load(tmp_path, bad, 3)


def test_an_image_unlike_the_training_data_is_uncertain_with_its_own_reason(tmp_path):
    samples = conformance_samples(40)
    detector = Detector(extractors=["colour", "spectral"], classifier="logistic", novelty_groups=["colour"])
    X = detector.extract(samples)
    detector.fit(samples, features=X)
    colour = [j for j, name in enumerate(detector.feature_names_) if name.startswith("colour__")]
    far = X.copy()
    far[:, colour] += 100 * X[:, colour].std(0)  # every colour statistic a hundred deviations away
    for verdict in detector.verdicts(samples, features=far):
        assert verdict.label.value == "UNCERTAIN" and verdict.novelty
        assert "farther from the nearest training images in colour features" in verdict.novelty
        assert any(r.startswith("unlike the training data: ") for r in verdict.reasons)
    record = prediction_record(samples[0], verdict, "custom", "train-test", "clean", 0)
    assert record["novel"] is True and record["verdict"] == "UNCERTAIN"  # predictions.parquet keeps why
    familiar = detector.verdicts(samples, features=X)
    # its own images are familiar (a few above a threshold set on only 8 validation images)
    assert np.mean([bool(v.novelty) for v in familiar]) <= 0.1
    detector.save(tmp_path / "model")
    loaded = Detector.load(tmp_path / "model")
    assert [v.to_dict() for v in loaded.verdicts(samples, features=far)] == [
        v.to_dict() for v in detector.verdicts(samples, features=far)
    ]
    with pytest.raises(ValueError, match="name no feature group"):
        Detector(extractors=["colour"], classifier="logistic", novelty_groups=["clip"]).fit(samples)
