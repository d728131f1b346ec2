"""Inference latency and throughput on the ONNX Runtime path.

Run: ``HF_HUB_OFFLINE=1 .venv/bin/python -m pytest benchmarks/test_bench_check.py --benchmark-only``.

- ``negate check`` on one image from a cold process, with a saved ``hybrid`` (trained on 300 images of the
  dev faces, its ONNX graphs exported by a first check): target <= 2 s wall.
- FerretNet-S at its 256² crop with the authors' weights, 64 photo-like 512² JPEGs from disk: >= 30 images/s.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from conftest import DEV_DATA, N_IMAGES, WEIGHTS

pytest.importorskip("onnxruntime")

from negate_sdk.api import Sample

GOAL_CHECK_SECONDS = 2.0
GOAL_FERRETNET_IMAGES_PER_SECOND = 30
NEGATE = [sys.executable, "-c", "from negate_sdk.cli.negate import main; main()"]


@pytest.fixture(scope="module")
def graph_env(tmp_path_factory):
    """The environment of the CLI runs: offline, the dev data, a graph cache of this run."""
    return {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "NEGATE_DEV_DATA": str(DEV_DATA),
        "NEGATE_ONNX_CACHE": str(tmp_path_factory.mktemp("graphs")),
        "NEGATE_CACHE_DIR": str(tmp_path_factory.mktemp("features")),
    }


@pytest.fixture(scope="module")
def saved_hybrid(tmp_path_factory, graph_env):
    """A ``hybrid`` trained on 300 dev faces, saved; its graphs exported by one first check."""
    if not (DEV_DATA / "manifest.csv").is_file():
        pytest.skip(f"no dev data in {DEV_DATA}")
    model = tmp_path_factory.mktemp("model") / "hybrid"
    train = [*NEGATE, "train", "--detector", "hybrid", "--dataset", "dev-faces", "--limit", "300"]
    subprocess.run([*train, "--out", str(model)], env=graph_env, check=True, capture_output=True)
    return model


def test_check_one_image_from_a_cold_process(benchmark, saved_hybrid, graph_env, jpeg_paths):
    command = [*NEGATE, "check", str(jpeg_paths[0]), "--model", str(saved_hybrid), "--json"]
    subprocess.run(command, env=graph_env, check=True, capture_output=True)  # exports the graphs once

    def check():
        return subprocess.run(command, env=graph_env, check=True, capture_output=True, text=True)

    run = benchmark.pedantic(check, rounds=3, iterations=1)
    assert '"verdict"' in run.stdout
    seconds = benchmark.stats.stats.mean
    benchmark.extra_info.update(seconds=round(seconds, 2), goal_seconds=GOAL_CHECK_SECONDS)
    assert seconds <= GOAL_CHECK_SECONDS


def test_ferretnet_s_throughput_at_its_crop(benchmark, jpeg_paths):
    weights = WEIGHTS / "ferretnet_s" / "ferretnet-s-median-3.pth"
    if not weights.is_file():
        pytest.skip(f"FerretNet-S weights not in {weights.parent}")
    pytest.importorskip("torch")  # the first use exports the graph
    from negate_published.ferretnet_detector import FerretNetFeatures

    extractor = FerretNetFeatures(weights=str(weights), device="cpu", backend="onnx")
    extractor.transform([Sample.from_path(jpeg_paths[0])])

    def embed():
        return extractor.transform([Sample.from_path(p) for p in jpeg_paths])

    X = benchmark.pedantic(embed, rounds=3, iterations=1, warmup_rounds=1)
    assert X.shape == (N_IMAGES, 129)
    images_per_second = N_IMAGES / benchmark.stats.stats.mean
    benchmark.extra_info.update(
        images_per_second=round(images_per_second, 1), goal_images_per_second=GOAL_FERRETNET_IMAGES_PER_SECOND
    )
    assert images_per_second >= GOAL_FERRETNET_IMAGES_PER_SECOND
