"""Published detectors through the SDK: FerretNet-S and UniversalFakeDetect with their authors' weights,
scored without training at the authors' operating point, calibrated with the network frozen, in the
harness."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score
from test_bench_run import write_dataset

import negate_sdk
from negate_published.univfd import read_linear_head
from negate_sdk.bench.results import read_predictions, read_results
from negate_sdk.bench.runner import RunConfig, run
from negate_sdk.conformance import conformance_samples
from negate_sdk.detectors import load_detector
from negate_sdk.sample import Sample

WEIGHTS = Path(__file__).resolve().parents[1].parent / "shared" / "weights"
needs_weights = pytest.mark.skipif(
    not WEIGHTS.is_dir(), reason="the published weights are not on this machine"
)
TINY_UNIVFD = {"extractor_params": "test", "device": "cpu"}


@pytest.fixture
def weights_dir(monkeypatch):
    monkeypatch.setenv("NEGATE_WEIGHTS_DIR", str(WEIGHTS))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@needs_weights
def test_ferretnet_s_separates_the_authors_demo_images(weights_dir):
    with open(WEIGHTS / "ferretnet_s" / "demo" / "manifest.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    samples = [Sample.from_path(WEIGHTS / "ferretnet_s" / "demo" / r["path"]) for r in rows]
    y = np.array([int(r["label"] == "synthetic") for r in rows])
    detector = negate_sdk.create_detector("ferretnet_s", device="cpu")
    verdicts = detector.verdicts(samples)  # unfitted: the authors' operating point
    scores = np.array([v.score for v in verdicts])
    assert len(rows) == 18 and roc_auc_score(y, scores) >= 0.95
    assert {v.t_genuine for v in verdicts} == {0.5} and {v.t_synthetic for v in verdicts} == {0.5}
    assert all((v.label.value == "SYNTHETIC") == (v.score >= 0.5) for v in verdicts)
    assert detector.describe()["operating_point"] == "authors"
    assert detector.describe()["weights"]["sha256"].startswith("5604ab1ade78")


@needs_weights
def test_univfd_reads_the_authors_head_and_computes_fc(weights_dir):
    path = WEIGHTS / "univfd" / "fc_weights.pth"
    w, b = read_linear_head(path, 768)
    assert w.shape == (768,) and np.isfinite(w).all()
    fc = torch.nn.Linear(768, 1).double()
    fc.load_state_dict(
        {k: v.double() for k, v in torch.load(path, map_location="cpu", weights_only=True).items()}
    )
    x = np.random.default_rng(0).normal(size=(5, 768))
    np.testing.assert_allclose(x @ w + b, fc(torch.from_numpy(x)).detach().numpy().ravel(), rtol=1e-12)
    with pytest.raises(negate_sdk.artifacts.ArtifactError, match=r"expected \(1, 16\) and \(1,\)"):
        read_linear_head(path, 16)


def test_univfd_end_to_end_on_a_tiny_clip_equals_the_head_on_its_raw_embedding(tmp_path):
    detector = negate_sdk.create_detector("univfd", weights="random", **TINY_UNIVFD)
    samples = conformance_samples(8)
    (extractor,) = detector.feature_extractors()
    assert extractor.get_params()["normalize"] is False and extractor.get_params()["resize"] is False
    X = extractor.transform(samples).astype(np.float64)
    assert not np.allclose(np.linalg.norm(X, axis=1), 1.0)  # encode_image as is, not L2-normalised
    w, b = detector.head()
    np.testing.assert_allclose(detector.logits(samples), X @ w + b, rtol=1e-6)
    expected = 1 / (1 + np.exp(-(X @ w + b)))
    np.testing.assert_allclose(detector.predict_proba(samples)[:, 1], expected, rtol=1e-6)


def test_calibration_keeps_the_network_frozen_and_round_trips(tmp_path):
    samples = conformance_samples(12)
    detector = negate_sdk.create_detector("ferretnet_s", weights="random", device="cpu")
    logits = detector.logits(samples)
    detector.fit(samples)
    assert detector.operating_point == "calibrated"
    np.testing.assert_array_equal(detector.logits(samples), logits)  # the network did not move
    assert detector.trained_on == ["progan-4cls", "progan"]
    saved = detector.save(tmp_path / "model")
    card = json.loads((saved / "detector.json").read_text())
    assert card["family"] == "pretrained" and card["pretrained_weights"]["licence"] == "Apache-2.0"
    assert card["files"] == {}  # no weights in the folder: they come from the pinned source
    loaded = load_detector(saved)
    np.testing.assert_allclose(loaded.predict_proba(samples), detector.predict_proba(samples), rtol=1e-9)


def run_config(table: Path, detectors: tuple[str, ...] = ("ferretnet_s",)) -> RunConfig:
    params = {"ferretnet_s:weights": "random", "ferretnet_s:device": "cpu"}
    return RunConfig(datasets=[str(table)], detectors=list(detectors), params=params, n_boot=20,
                     use_cache=False)  # fmt: skip


def test_a_pretrained_detector_without_calibration_data_scores_every_image_at_the_authors_point(tmp_path):
    table = write_dataset(tmp_path / "data", n_per_group=4)  # no train split of its own
    (path,) = run(run_config(table), tmp_path / "out")
    (entry,) = read_results(path)["runs"]
    assert entry["detector"] == "ferretnet_s@authors" and entry["operating_point"] == "authors"
    assert entry["thresholds"] == {"t_genuine": 0.5, "t_synthetic": 0.5, "t_decision": 0.5}
    assert entry["metrics"]["overall"]["auc"]["n"] == 16  # every row: nothing was held out to train
    assert entry["family"] == "pretrained" and entry["trained_on"] == ["progan-4cls", "progan"]


def test_with_calibration_data_both_operating_points_are_reported_side_by_side(tmp_path):
    table = write_dataset(tmp_path / "data", n_per_group=8)
    with open(table, newline="") as handle:
        rows = list(csv.DictReader(handle))
    for row in rows:
        row["split"] = "train" if int(row["path"].rsplit("-", 1)[1].split(".")[0]) < 4 else "test"
    with open(table, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    (path,) = run(run_config(table, ("ferretnet_s", "dummy")), tmp_path / "out")
    runs = {entry["detector"]: entry for entry in read_results(path)["runs"]}
    assert set(runs) == {"ferretnet_s@authors", "ferretnet_s@calibrated", "dummy"}
    authors, calibrated = runs["ferretnet_s@authors"], runs["ferretnet_s@calibrated"]
    assert calibrated["operating_point"] == "calibrated" and calibrated["calibrated_on"] == ["data"]
    assert authors["metrics"]["overall"]["auc"]["n"] == calibrated["metrics"]["overall"]["auc"]["n"] == 16
    # calibration is monotone: the ranking, hence the AUC, is the authors' network's own
    assert authors["metrics"]["overall"]["auc"]["value"] == calibrated["metrics"]["overall"]["auc"]["value"]
    predictions = read_predictions(path.with_name("predictions.parquet"))
    by_id = {}
    for p in predictions:
        by_id.setdefault(p["sample_id"], {})[p["detector"]] = p["score"]
    order = [
        sorted(by_id, key=lambda i: by_id[i][name])
        for name in ("ferretnet_s@authors", "ferretnet_s@calibrated")
    ]
    assert order[0] == order[1]
    leaderboard = (tmp_path / "out" / "leaderboard.md").read_text()
    assert "ferretnet_s@authors" in leaderboard and "ferretnet_s@calibrated" in leaderboard
