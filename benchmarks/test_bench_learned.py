"""Speed of the offline learned extractor: EfficientNet-Lite0 embeddings on CPU at 224 px, from JPEG files,
in ONNX Runtime (the default on CPU) and in PyTorch.

Run: ``HF_HUB_OFFLINE=1 .venv/bin/python -m pytest benchmarks/test_bench_learned.py --benchmark-only``.
Each round decodes 64 JPEG files (512 x 512, quality 90, ~90 KB: the size of generator outputs and of the
dev set's largest images) from disk, cuts the views and runs the model; images/s is in ``extra_info``.
Targets on a 2-core machine: ONNX Runtime >= 60 images/s end to end and >= 2x PyTorch in the same run.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

pytest.importorskip("torch")

from conftest import N_IMAGES

from negate_sdk.api import Sample
from negate_timm.backbones import EfficientNetLite0

GOAL_IMAGES_PER_SECOND = 60
GOAL_RATIO_TO_PYTORCH = 2.0


def embed_seconds(extractor, paths, rounds: int = 3) -> float:
    """Best-of-``rounds`` wall time to embed ``paths`` from disk (the model built beforehand)."""
    extractor.transform([Sample.from_path(paths[0])])
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        extractor.transform([Sample.from_path(p) for p in paths])
        times.append(time.perf_counter() - start)
    return min(times)


@pytest.mark.parametrize(
    ("backend", "precision", "num_workers", "batch_size"),
    [("torch", "fp32", 0, 32), ("torch", "fp32", 2, 16), ("torch", "bf16", 2, 16), ("onnx", "fp32", 0, 32)],
    ids=["torch-fp32-in-process", "torch-fp32-2-workers", "torch-bf16-2-workers", "onnx-fp32-prefetch"],
)
def test_efficientnet_lite0_cpu_throughput(
    benchmark, jpeg_paths, backend, precision, num_workers, batch_size
):
    extractor = EfficientNetLite0(
        device="cpu", precision=precision, num_workers=num_workers, batch_size=batch_size, backend=backend
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


def test_onnx_runtime_is_twice_pytorch_in_the_same_run(benchmark, jpeg_paths):
    """The ratio, measured back to back on the same files, so a busy machine slows both alike (ONNX
    Runtime first: torch's OpenMP threads keep spinning for a while after its last batch)."""
    onnx = EfficientNetLite0(device="cpu", backend="onnx")
    onnx.transform([Sample.from_path(jpeg_paths[0])])
    benchmark.pedantic(
        lambda: onnx.transform([Sample.from_path(p) for p in jpeg_paths]), rounds=3, iterations=1
    )
    onnx_seconds = benchmark.stats.stats.min
    pytorch = embed_seconds(EfficientNetLite0(device="cpu", backend="torch", num_workers=0), jpeg_paths)
    ratio = pytorch / onnx_seconds
    benchmark.extra_info.update(
        onnx_images_per_second=round(N_IMAGES / onnx_seconds, 1),
        pytorch_images_per_second=round(N_IMAGES / pytorch, 1),
        ratio=round(ratio, 2),
    )
    assert N_IMAGES / onnx_seconds >= GOAL_IMAGES_PER_SECOND
    assert ratio >= GOAL_RATIO_TO_PYTORCH
