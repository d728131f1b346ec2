"""`negate-bench run --executor ray` on a real two-node Ray cluster on loopback: same numbers as local.

The cluster (a head and one worker node, one CPU each, 100 MB object stores, no dashboard) is started
once for the module and shut down at the end. The worker node declares one GPU (a resource label: no
CUDA is used), so the scheduling of torch-like extractors onto GPU actors is exercised for real.
"""

from __future__ import annotations

import csv
import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

# Before Ray is imported: nodes talk over loopback (Ray's own switch for single-machine clusters), no
# usage statistics, nothing that looks for the network.
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("RAY_DISABLE_DOCKER_CPU_WARNING", "1")

ray = pytest.importorskip("ray")

from negate_sdk.api import BaseExtractor, Sample  # noqa: E402
from negate_sdk.bench.results import read_predictions, read_results  # noqa: E402
from negate_sdk.bench.runner import RunConfig, run  # noqa: E402
from negate_sdk.cli.bench import build_cli  # noqa: E402
from negate_sdk.distributed import actor_pool, connect, ray_extract_features, wants_gpu  # noqa: E402
from negate_sdk.features import extract_features  # noqa: E402
from negate_sdk.store import FeatureStore  # noqa: E402

DEV = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"
BROKEN = "not a supported image (unrecognised format)"
MB = 2**20

# the extractors below live in this test module, which the Ray workers cannot import: ship them by value
ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])


@pytest.fixture(scope="module")
def ray_cluster():
    from ray.cluster_utils import Cluster

    cluster = Cluster(
        initialize_head=True,
        head_node_args={"num_cpus": 1, "object_store_memory": 100 * MB, "include_dashboard": False},
    )
    try:
        cluster.add_node(num_cpus=1, num_gpus=1, object_store_memory=100 * MB)
        ray.init(address=cluster.address, log_to_driver=False)
        yield cluster.address
    finally:
        ray.shutdown()
        cluster.shutdown()


class LoggedMeans(BaseExtractor):
    """Channel means; leaves a file per image it transforms in ``log_dir`` (counts across processes).

    With ``crash_flag``, the first process to transform anything creates that file and dies abruptly,
    as a worker killed by the OS would.
    """

    name = "logged_means"
    version = "1"

    def __init__(self, log_dir: str = "", crash_flag: str = "") -> None:
        self.log_dir = log_dir
        self.crash_flag = crash_flag

    def feature_names(self):
        return ["r", "g", "b"]

    def transform(self, samples):
        if self.crash_flag and not os.path.exists(self.crash_flag):
            Path(self.crash_flag).write_text(str(os.getpid()))
            os._exit(1)
        for sample in samples:
            Path(self.log_dir, f"{sample.sha256}-{os.urandom(4).hex()}").touch()
        return np.array([s.pixels.reshape(-1, 3).mean(0) for s in samples], dtype=np.float32).reshape(-1, 3)


class TorchLikeMeans(LoggedMeans):
    """Looks torch-based to the scheduler (``parallel_safe = False``, a ``device``); logs its GPU ids."""

    name = "torch_like_means"
    parallel_safe = False

    def __init__(self, log_dir: str = "", device: str = "auto") -> None:
        self.log_dir = log_dir
        self.device = device

    def transform(self, samples):
        Path(self.log_dir, f"gpus-{os.getpid()}.json").write_text(json.dumps(ray.get_gpu_ids()))
        return np.array([s.pixels.reshape(-1, 3).mean(0) for s in samples], dtype=np.float32).reshape(-1, 3)


class BatchSizeMeans(BaseExtractor):
    """Channel means and the size of the batch each image came in: like a learned extractor, whose last
    bits depend on which images share a batch, it gives identical numbers only for identical chunks."""

    name = "batch_size_means"
    version = "1"

    def feature_names(self):
        return ["r", "g", "b", "batch"]

    def transform(self, samples):
        means = [[*s.pixels.reshape(-1, 3).mean(0), len(samples)] for s in samples]
        return np.array(means, dtype=np.float32).reshape(-1, 4)


def image_files(root: Path, n: int, seed: int = 0) -> list[Path]:
    """``n`` PNG files of random pixels, plus a broken one in the middle."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        path = root / f"{i}.png"
        Image.fromarray(rng.integers(0, 256, (12, 10, 3), dtype=np.uint8)).save(path)
        paths.append(path)
    broken = root / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n broken")
    return [*paths[: n // 2], broken, *paths[n // 2 :]]


def write_dataset(root: Path, n_per_group: int = 12) -> Path:
    """A CSV dataset of two sources whose synthetics are brighter, and one undecodable file."""
    rng = np.random.default_rng(0)
    rows = []
    for source, label, generator in [("a", 0, "none"), ("a", 1, "sd-1.4"), ("b", 0, "none"), ("b", 1, "gan")]:
        for i in range(n_per_group):
            level = 90 + 50 * label + rng.normal(0, 18)
            pixels = np.clip(rng.normal(level, 25, (40, 48, 3)), 0, 255).astype(np.uint8)
            path = root / source / f"{generator}-{i}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(pixels).save(path)
            rows.append({"path": f"{source}/{generator}-{i}.png", "label": ["real", "synthetic"][label],
                         "generator": generator, "source": source, "split": "all"})  # fmt: skip
    (root / "a" / "none-broken.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    rows.append(
        {"path": "a/none-broken.png", "label": "real", "generator": "none", "source": "a", "split": "all"}
    )
    with open(root / "data.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return root / "data.csv"


def assert_same_results(local: Path, distributed: Path) -> None:
    one, two = read_results(local), read_results(distributed)
    assert [r["detector"] for r in one["runs"]] == [r["detector"] for r in two["runs"]]
    for a, b in zip(one["runs"], two["runs"]):
        assert a["metrics"] == b["metrics"] and a["failures"] == b["failures"]
        assert a["thresholds"] == b["thresholds"]
    scores = read_predictions(local.with_name("predictions.parquet"))
    assert scores == read_predictions(distributed.with_name("predictions.parquet"))


def test_a_run_on_ray_gives_the_local_numbers(ray_cluster, tmp_path):
    dataset = write_dataset(tmp_path / "data")
    config = RunConfig(
        datasets=[str(dataset)],
        detectors=["dummy", "example_colour_logistic"],
        extractors=["example_colour_moments", "spectral"],
        perturb=["jpeg_q50"],
        n_boot=50,
        cache_dir=str(tmp_path / "local-cache"),
    )
    (local,) = run(config, tmp_path / "local")
    args = ["run", "--detector", "dummy", "--detector", "example_colour_logistic"]
    args += ["--extractors", "example_colour_moments,spectral", "--perturb", "jpeg_q50", "--n-boot", "50"]
    args += ["--dataset", str(dataset), "--cache-dir", str(tmp_path / "ray-cache"), "--json"]
    args += ["--executor", "ray", "--ray-address", ray_cluster, "--output", str(tmp_path / "ray")]
    result = CliRunner().invoke(build_cli(), args)
    assert result.exit_code == 0, result.output
    distributed = tmp_path / "ray" / "results.json"
    assert_same_results(local, distributed)
    document = read_results(distributed)
    assert document["provenance"]["config"]["executor"] == "ray"
    adhoc = document["runs"][-1]
    # the undecodable file: recorded with its reason in training (half the rows) or test, never fatal
    assert [f["reason"] for f in adhoc["failures"]] in ([BROKEN], [BROKEN, BROKEN])
    assert adhoc["metrics"]["overall"]["auc"]["value"] > 0.8
    # the workers wrote the features: the Ray store holds what the local one holds, value for value
    local_store, ray_store = FeatureStore(tmp_path / "local-cache"), FeatureStore(tmp_path / "ray-cache")
    for row in local_store.info():
        stored = list(local_store.index(row["cache_key"]))
        np.testing.assert_array_equal(
            ray_store.get(row["cache_key"], stored), local_store.get(row["cache_key"], stored)
        )


def test_workers_skip_what_the_store_has_and_a_crashed_worker_is_retried(ray_cluster, tmp_path):
    samples = [Sample.from_path(p) for p in image_files(tmp_path / "images", 24)]
    logs = tmp_path / "logs"
    logs.mkdir()
    expected = extract_features([LoggedMeans(str(tmp_path))], samples)
    assert expected.failures == {12: BROKEN}

    crashing = LoggedMeans(str(logs), crash_flag=str(tmp_path / "crashed"))
    first = ray_extract_features([crashing], samples, store=FeatureStore(tmp_path / "store"), chunk_size=4)
    assert (tmp_path / "crashed").is_file()  # a worker died mid-chunk; the chunk was retried elsewhere
    np.testing.assert_array_equal(first.X, expected.X)
    assert first.failures == expected.failures and first.ok.tolist() == expected.ok.tolist()
    assert len(list(logs.iterdir())) == 24  # every readable image once: the crash came before any work

    key_dir = tmp_path / "store" / crashing.cache_key
    chunks = sorted(key_dir.glob("chunk-*.npz"))
    assert len(chunks) == 7  # 25 files in chunks of 4 (the broken one is left out of its chunk)
    lost = set()
    for chunk in chunks[::2]:  # as if the run had been interrupted before these chunks were written
        with np.load(chunk) as data:
            lost |= set(data["sha256"].tolist())
        chunk.unlink()
    for log in logs.iterdir():
        log.unlink()
    again = ray_extract_features([crashing], samples, store=FeatureStore(tmp_path / "store"), chunk_size=4)
    redone = sorted(p.name.split("-")[0] for p in logs.iterdir())
    assert redone == sorted(lost) and 12 <= len(redone) < 24  # only what the store lacked
    np.testing.assert_array_equal(again.X, expected.X)
    assert again.failures == expected.failures


def test_without_a_store_the_workers_send_features_back(ray_cluster, tmp_path):
    samples = [Sample.from_path(p) for p in image_files(tmp_path / "images", 10, seed=3)]
    extractor = LoggedMeans(str(tmp_path))
    result = ray_extract_features([extractor], samples)
    reference = extract_features([extractor], samples)
    np.testing.assert_array_equal(result.X, reference.X)
    assert result.failures == reference.failures == {5: BROKEN}
    means = [s.pixels.reshape(-1, 3).mean(0) for i, s in enumerate(samples) if i != 5]
    np.testing.assert_allclose(result.X, means, rtol=1e-6)


def test_chunks_are_those_of_a_local_run(ray_cluster, tmp_path):
    samples = [Sample.from_path(p) for p in image_files(tmp_path / "images", 22, seed=7)]
    local = extract_features([BatchSizeMeans()], samples, chunk_size=10)
    distributed = ray_extract_features([BatchSizeMeans()], samples, chunk_size=10)
    np.testing.assert_array_equal(distributed.X, local.X)
    # 23 files in chunks of 10, 10 and 3; the broken one (position 11) leaves 9 images in its batch
    assert sorted(local.X[:, 3].tolist()) == [3.0] * 3 + [9.0] * 9 + [10.0] * 10


def test_gpus_are_requested_only_for_torch_extractors_and_only_where_the_cluster_has_them(
    ray_cluster, tmp_path
):
    assert ray.cluster_resources()["GPU"] == 1 and len(actor_pool(gpu=False)) == 2
    samples = [Sample.from_path(p) for p in image_files(tmp_path / "images", 6, seed=5)]
    for device, gpu_ids in [("auto", [0]), ("cpu", [])]:
        logs = tmp_path / device
        logs.mkdir()
        extractor = TorchLikeMeans(str(logs), device=device)
        assert wants_gpu(extractor) == (device == "auto")
        result = ray_extract_features([extractor], samples, store=FeatureStore(tmp_path / "store"))
        reference = extract_features([TorchLikeMeans(str(tmp_path), device=device)], samples)
        np.testing.assert_array_equal(result.X, reference.X)
        seen = {tuple(json.loads(p.read_text())) for p in logs.glob("gpus-*.json")}
        assert seen == {tuple(gpu_ids)}
    assert not wants_gpu(LoggedMeans()) and not wants_gpu(TorchLikeMeans(device="mps"))


@pytest.mark.skipif(not (DEV / "manifest.csv").is_file(), reason="the dev image sets are not on this machine")
def test_dev_images_on_ray_give_the_local_numbers(ray_cluster, tmp_path):
    config = RunConfig(
        datasets=["dev"],
        detectors=["dummy"],
        extractors=["example_colour_moments", "spectral"],
        limit=240,
        n_boot=50,
        cache_dir=str(tmp_path / "local-cache"),
    )
    (local,) = run(config, tmp_path / "local")
    config.executor, config.ray_address, config.cache_dir = "ray", ray_cluster, str(tmp_path / "ray-cache")
    (distributed,) = run(config, tmp_path / "ray")
    assert_same_results(local, distributed)
    document = read_results(distributed)
    n_test = document["protocol"]["folds"][0]["n_test"]
    assert document["runs"][1]["metrics"]["overall"]["auc"]["n"] == n_test >= 50


def test_an_unreachable_cluster_is_a_one_line_error_at_once(monkeypatch):
    monkeypatch.setattr(ray, "is_initialized", lambda: False)  # as in a fresh process
    with pytest.raises(ValueError, match=r"^cannot connect to the Ray cluster at 127\.0\.0\.1:1: "):
        connect("127.0.0.1:1")  # nobody listens on port 1: refused now, not after Ray's minutes of retries
    with pytest.raises(ValueError, match=r"at nonsense: expected HOST:PORT or auto$"):
        connect("nonsense")
