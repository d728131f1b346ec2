"""Speed of the handcrafted extractors on 512 x 512 RGB images, single-threaded (pytest-benchmark).

Run: ``.venv/bin/python -m pytest benchmarks/test_bench_handcrafted.py -q -p no:cacheprovider`` (add
``--benchmark-json out.json`` to keep the numbers). Every benchmark records ``images_per_s`` (wall) and
``cpu_images_per_s`` (process CPU time: the per-core rate, robust to other processes sharing the
machine) in its ``extra_info``; the union also records how much the shared context saves against the
families run one by one. BLAS/OpenMP pools are limited to one thread. Images are the 512 x 512 dev photos
of ``../shared/datasets/diffusiondb_coco`` when present (pixels decoded up front), else generated ones.
The target is 20 images/s per core for ``handcrafted``. The last benchmark compares, in fresh
processes, the union with and without :func:`negate_handcrafted.parallel.tune_allocator` (what the pool
workers run with).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from threadpoolctl import threadpool_limits

from negate_handcrafted.parallel import transform_parallel
from negate_handcrafted.union import FAMILIES, FAMILY_NAMES, HandcraftedUnion
from negate_sdk import Sample

DEV_PHOTOS = Path(__file__).resolve().parents[1] / ".." / "shared" / "datasets" / "diffusiondb_coco"
N_IMAGES = 16


def _generated(n: int) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:512, 0:512].astype(np.float32)
    images = []
    for i in range(n):
        base = 120 + 60 * np.sin(xx / (9 + i) + yy / (13 + i)) + 40 * (((xx // (20 + i)) + (yy // 17)) % 2)
        noise = rng.normal(0, 6, (512, 512, 3))
        tint = np.array([1.0, 0.8 + 0.02 * i, 0.6])
        images.append(np.clip(base[..., None] * tint + noise, 0, 255).astype(np.uint8))
    return images


@pytest.fixture(scope="module")
def images() -> list[np.ndarray]:
    """``N_IMAGES`` 512 x 512 uint8 RGB images: dev photos when available, else generated."""
    paths = sorted(DEV_PHOTOS.glob("*/*.jpg"))
    paths = paths[:: max(1, len(paths) // N_IMAGES)]
    if len(paths) >= N_IMAGES:
        pixels = [Sample.from_path(p).pixels for p in paths[:N_IMAGES]]
        if all(p.shape == (512, 512, 3) for p in pixels):
            return pixels
    return _generated(N_IMAGES)


@pytest.fixture(autouse=True)
def one_thread():
    with threadpool_limits(1):
        yield


def _rates(benchmark, run, n_images: int) -> None:
    """Benchmark ``run`` (which processes ``n_images``) and record wall and CPU images per second."""
    benchmark.pedantic(run, rounds=3, iterations=1, warmup_rounds=1)
    cpu = float("inf")
    for _ in range(3):  # best of 3, like the wall-clock figure
        start = time.process_time()
        run()
        cpu = min(cpu, time.process_time() - start)
    benchmark.extra_info["images"] = n_images
    benchmark.extra_info["images_per_s"] = round(n_images / benchmark.stats.stats.min, 2)
    benchmark.extra_info["cpu_images_per_s"] = round(n_images / cpu, 2)


@pytest.mark.parametrize("family", FAMILIES, ids=FAMILY_NAMES)
def test_family_speed(benchmark, images, family):
    extractor = family()
    _rates(benchmark, lambda: [extractor.features(p) for p in images], len(images))


def test_handcrafted_union_speed(benchmark, images):
    union = HandcraftedUnion()
    _rates(benchmark, lambda: [union.features(p) for p in images], len(images))
    separate = 0.0  # the same families run one by one, each building its own context (best of 3 each)
    for member in union.members():
        best = float("inf")
        for _ in range(3):
            start = time.process_time()
            for pixels in images:
                member.features(pixels)
            best = min(best, time.process_time() - start)
        separate += best
    benchmark.extra_info["families_one_by_one_images_per_s"] = round(len(images) / separate, 2)
    benchmark.extra_info["sharing_speedup"] = round(
        separate / (len(images) / benchmark.extra_info["cpu_images_per_s"]), 2
    )
    benchmark.extra_info["target_images_per_s"] = 20


def test_parallel_transform_speed(benchmark, images, tmp_path_factory):
    """Process-pool extraction from PNG files (decode included), pool start-up included: 48 images."""
    folder = tmp_path_factory.mktemp("bench_images")
    paths = []
    for copy in range(3):
        for i, pixels in enumerate(images):
            path = folder / f"{copy}_{i}.png"
            Image.fromarray(pixels).save(path)
            paths.append(path)
    union = HandcraftedUnion()
    n_jobs = os.cpu_count() or 1

    def run() -> None:
        transform_parallel(union, [Sample.from_path(p) for p in paths], n_jobs=n_jobs, chunk_size=4)

    benchmark.pedantic(run, rounds=2, iterations=1, warmup_rounds=0)
    benchmark.extra_info["n_jobs"] = n_jobs
    benchmark.extra_info["images"] = len(paths)
    benchmark.extra_info["images_per_s_with_png_decode"] = round(len(paths) / benchmark.stats.stats.min, 2)


_FRESH_PROCESS_RATE = """
import sys, time
import numpy as np
from threadpoolctl import threadpool_limits
from negate_handcrafted.parallel import tune_allocator
from negate_handcrafted.union import HandcraftedUnion
images = list(np.load(sys.argv[1]))
if sys.argv[2] == "tuned":
    tune_allocator()
union = HandcraftedUnion()
with threadpool_limits(1):
    union.features(images[0])
    best = float("inf")
    for _ in range(3):
        start = time.process_time()
        for pixels in images:
            union.features(pixels)
        best = min(best, time.process_time() - start)
print(len(images) / best)
"""


def _fresh_process_rate(images_file: Path, mode: str) -> float:
    """Union CPU images/s in a new interpreter (``mode`` "tuned" calls ``tune_allocator`` first)."""
    result = subprocess.run(
        [sys.executable, "-c", _FRESH_PROCESS_RATE, str(images_file), mode],
        capture_output=True, text=True, check=True, env={**os.environ, "OMP_NUM_THREADS": "1"},
    )  # fmt: skip
    return float(result.stdout.strip().splitlines()[-1])


def test_handcrafted_union_speed_tuned_allocator(benchmark, images, tmp_path):
    """The allocator tuning the pool workers apply, A/B against the default, in fresh processes (3 pairs)."""
    images_file = tmp_path / "images.npy"
    np.save(images_file, np.stack(images))
    pairs = []

    def run() -> None:
        pairs.append((_fresh_process_rate(images_file, "default"), _fresh_process_rate(images_file, "tuned")))

    benchmark.pedantic(run, rounds=3, iterations=1, warmup_rounds=0)
    default, tuned = np.array(pairs).T
    benchmark.extra_info["default_cpu_images_per_s"] = [round(x, 2) for x in default]
    benchmark.extra_info["tuned_cpu_images_per_s"] = [round(x, 2) for x in tuned]
    benchmark.extra_info["median_paired_gain"] = round(float(np.median(tuned / default)), 3)
