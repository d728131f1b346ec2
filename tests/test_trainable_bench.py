"""Trainable detectors inside the benchmark harness, and on real CIFAKE images when the dev set is present."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image
from sklearn.metrics import roc_auc_score

from negate_sdk.bench.results import read_predictions, read_results
from negate_sdk.bench.runner import RunConfig, run
from negate_sdk.cli.negate import build_cli
from negate_sdk.detectors import load_detector
from negate_trainable.saturate import SaturateCNN

DEV = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """Tiny networks run faster on one thread (more so on a shared machine); restored afterwards."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def write_folder(root: Path, n: int) -> Path:
    """``root/{train,test}/{real,synthetic}``: sharp noise vs blurred noise with a 2-pixel grid, 16x16."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:16, 0:16]
    for split in ("train", "test"):
        for label, kind in enumerate(("real", "synthetic")):
            folder = root / split / kind
            folder.mkdir(parents=True)
            for i in range(n):
                noise = rng.normal(0, 30, (18, 18, 3))
                if label:
                    noise = sum(noise[dy : dy + 16, dx : dx + 16] for dy in range(3) for dx in range(3)) / 3.0
                    noise += 12.0 * ((yy % 2 == 0) & (xx % 2 == 0))[..., None]
                else:
                    noise = noise[1:17, 1:17]
                pixels = np.clip(rng.uniform(70, 180, 3) + noise, 0, 255).astype(np.uint8)
                Image.fromarray(pixels).save(folder / f"{i:03d}.png")
    return root


def test_the_runner_trains_and_scores_a_trainable_detector(tmp_path):
    data = write_folder(tmp_path / "toy", 32)
    params = {
        "image_size": 16,
        "epochs": 4,
        "patience": None,
        "batch_size": 8,
        "verbose": False,
        "view": "rgb",
    }
    config = RunConfig(
        datasets=[str(data)],
        detectors=["saturate_cnn"],
        params={f"saturate_cnn:{k}": v for k, v in params.items()},
        device="cpu",
        n_boot=50,
        use_cache=False,
    )
    (path,) = run(config, tmp_path / "out")
    (entry,) = read_results(path)["runs"]
    assert entry["detector"] == "saturate_cnn" and entry["params"]["view"] == "rgb"
    assert entry["thresholds"]["t_decision"] == 0.5
    overall = entry["metrics"]["overall"]
    assert overall["auc"]["n"] == 64 and overall["auc"]["value"] >= 0.9
    predictions = read_predictions(path.with_name("predictions.parquet"))
    assert all(p["pred"] == int(p["score"] >= 0.5) for p in predictions)
    assert np.mean([p["pred"] == p["label"] for p in predictions]) == overall["accuracy"]["value"]


def test_negate_train_saves_a_trainable_detector(tmp_path):
    data = write_folder(tmp_path / "toy", 8)
    params = ["epochs=1", "image_size=16", "batch_size=8", "verbose=false", "device=cpu"]
    args = ["train", "--detector", "saturate_cnn", "--dataset", str(data), "--out", str(tmp_path / "m")]
    result = CliRunner().invoke(build_cli(), args + ["--json"] + [x for p in params for x in ("--param", p)])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert (summary["detector"], summary["split"], summary["n_images"]) == ("saturate_cnn", "train", 16)
    detector = load_detector(summary["out"])
    assert summary["thresholds"] == detector.thresholds.to_dict()
    assert summary["validation_metrics"] == detector.validation_metrics_


@pytest.mark.skipif(not (DEV / "manifest.csv").is_file(), reason="dev image sets not present")
def test_saturate_cnn_learns_cifake():
    from negate_sdk.manifests import resolve_dataset

    cifake = resolve_dataset("dev-cifake", data_dir=None)
    train = list(cifake.filter(split="train").sample(limit=400, seed=0).to_samples())
    test = list(cifake.filter(split="test").sample(limit=400, seed=0).to_samples())
    detector = SaturateCNN(view="rgb", epochs=3, verbose=False, device="cpu").fit(train)
    y = np.array([s.label for s in test])
    assert roc_auc_score(y, detector.predict_proba(test)[:, 1]) >= 0.75  # 0.85 measured; chance is 0.5
