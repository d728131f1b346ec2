"""Reach: the leave-one-source-out proxy, verdict shares per class, and verdicts that state their reasons."""

from __future__ import annotations

import numpy as np
import pytest
from test_bench_run import write_dataset

from negate_sdk.bench import protocols
from negate_sdk.bench.metrics import compute_metrics
from negate_sdk.conformance import conformance_samples
from negate_sdk.detectors import Detector
from negate_sdk.manifests import resolve_dataset


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
    metrics = compute_metrics(y, score, synthetic.astype(int), uncertain, synthetic, n_boot=50)
    assert metrics["synthetic_share_real"]["value"] == 1 / 4 and metrics["synthetic_share_real"]["n"] == 4
    assert metrics["uncertain_share_real"]["value"] == 1 / 4
    assert metrics["synthetic_share_fake"]["value"] == 1 / 3 and metrics["synthetic_share_fake"]["n"] == 3
    assert metrics["uncertain_share_fake"]["value"] == 1 / 3


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
