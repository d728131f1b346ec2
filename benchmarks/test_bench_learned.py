"""Speed of the offline learned extractor: EfficientNet-Lite0 embeddings on CPU at 224 px, from JPEG files.

Run: ``HF_HUB_OFFLINE=1 .venv/bin/python -m pytest benchmarks/test_bench_learned.py --benchmark-only``.
Each round decodes 64 JPEG files (512 x 512, quality 90, ~90 KB: the size of generator outputs and of the
dev set's largest images) from disk, cuts the views and runs the model; images/s is in ``extra_info``.
The goal is 40 images/s on a 2-core machine.
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("torch")

from negate_sdk.api import Sample
from negate_timm.backbones import EfficientNetLite0

N_IMAGES = 64
GOAL_IMAGES_PER_SECOND = 40


@pytest.fixture(scope="module")
def jpeg_paths(tmp_path_factory):
    """Photo-like JPEGs: smooth shading, edges and sensor-like noise, so the encoder does real work."""
    folder = tmp_path_factory.mktemp("jpegs")
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:512, 0:512].astype(np.float32)
    paths = []
    for i in range(N_IMAGES):
        shading = 110 + 70 * np.sin(xx / (30 + i)) * np.cos(yy / (45 + 2 * i))
        edges = 40 * ((xx + 3 * i) % 97 < 48) * ((yy + 5 * i) % 131 < 60)
        colour = np.array([1.0, 0.85 + 0.002 * i, 0.7])
        pixels = (shading + edges)[..., None] * colour + rng.normal(0, 8, (512, 512, 3))
        path = folder / f"{i:03d}.jpg"
        Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(path, quality=90)
        paths.append(path)
    return paths


@pytest.mark.parametrize(
    ("precision", "num_workers", "batch_size"),
    [("fp32", 0, 32), ("fp32", 2, 16), ("bf16", 2, 16)],
    ids=["fp32-in-process", "fp32-2-workers", "bf16-2-workers"],
)
def test_efficientnet_lite0_cpu_throughput(benchmark, jpeg_paths, precision, num_workers, batch_size):
    extractor = EfficientNetLite0(
        device="cpu", precision=precision, num_workers=num_workers, batch_size=batch_size
    )
    extractor.transform([Sample.from_path(jpeg_paths[0])])  # build the model outside the timing

    def embed():
        return extractor.transform([Sample.from_path(p) for p in jpeg_paths])

    X = benchmark.pedantic(embed, rounds=3, iterations=1, warmup_rounds=1)
    assert X.shape == (N_IMAGES, 1280) and np.isfinite(X).all()
    images_per_second = N_IMAGES / benchmark.stats.stats.mean
    benchmark.extra_info.update(
        images_per_second=round(images_per_second, 1),
        goal_images_per_second=GOAL_IMAGES_PER_SECOND,
        image_size="512x512 JPEG q90",
    )
