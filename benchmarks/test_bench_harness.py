"""The harness's speed and memory targets, measured in one run each.

Run: ``NEGATE_DEV_DATA=../shared/datasets .venv/bin/python -m pytest benchmarks/test_bench_harness.py
--benchmark-only -s``.

- Warm re-run: `make bench`'s command (hybrid, handcrafted and dummy on the three dev sets) with a warm
  feature store takes at most 10% of the cold run's wall time (the cold run extracts every feature and
  fits every detector; the warm one reads features and identical fits back and scores).
- Memory: peak memory of a run does not grow with the number of images: a run on 8,000 images peaks
  within 1.25× of a run on 1,000 (images are streamed and released; only the feature matrix grows).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DEV = Path(os.environ.get("NEGATE_DEV_DATA", ROOT.parent / "shared" / "datasets"))
pytestmark = pytest.mark.skipif(not (DEV / "manifest.csv").is_file(), reason="needs the dev image sets")


def negate_bench(*args: str, env: dict[str, str]) -> float:
    """Run ``negate-bench`` in a fresh process; return its wall time in seconds."""
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "negate_sdk.cli.bench_main", *args],
        check=True,
        env={**os.environ, "NEGATE_DEV_DATA": str(DEV), "HF_HUB_OFFLINE": "1", **env},
        capture_output=True,
    )
    return time.perf_counter() - start


def test_warm_rerun_takes_at_most_a_tenth_of_the_cold_run(benchmark, tmp_path):
    args = ["run", "--detector", "hybrid", "--detector", "handcrafted", "--detector", "dummy"]
    args += ["--dataset", "dev-cifake", "--dataset", "dev-diffusiondb", "--dataset", "dev-faces"]
    args += ["--jobs", "2", "--cache-dir", str(tmp_path / "store")]
    cold = negate_bench(*args, "--output", str(tmp_path / "cold"), env={})
    warm = benchmark.pedantic(
        lambda: negate_bench(*args, "--output", str(tmp_path / "warm"), env={}), rounds=1, iterations=1
    )
    ratio = warm / cold
    benchmark.extra_info.update(
        {"cold_s": round(cold, 1), "warm_s": round(warm, 1), "ratio": round(ratio, 3)}
    )
    print(f"\ncold {cold:.1f} s, warm {warm:.1f} s, ratio {ratio:.3f} (target <= 0.10)")
    cold_runs = json.loads((tmp_path / "cold" / "dev-faces" / "results.json").read_text())["runs"]
    warm_runs = json.loads((tmp_path / "warm" / "dev-faces" / "results.json").read_text())["runs"]
    assert [r["metrics"] for r in warm_runs] == [r["metrics"] for r in cold_runs]
    assert ratio <= 0.10


def _peak_mb(limit: int, tmp_path: Path) -> float:
    out = tmp_path / f"run-{limit}"
    negate_bench(
        "run",
        "--extractors",
        "spectral,residual",
        "--detector",
        "dummy",
        "--dataset",
        "dev-cifake",
        "--limit",
        str(limit),
        "--no-cache",
        "--n-boot",
        "50",
        "--output",
        str(out),
        env={},
    )
    return json.loads((out / "results.json").read_text())["provenance"]["peak_memory_mb"]


def test_peak_memory_is_flat_in_the_number_of_images(benchmark, tmp_path):
    small = _peak_mb(1000, tmp_path)
    large = benchmark.pedantic(lambda: _peak_mb(8000, tmp_path), rounds=1, iterations=1)
    benchmark.extra_info.update({"peak_mb_1k": small, "peak_mb_8k": large, "ratio": round(large / small, 3)})
    print(f"\npeak memory: 1k images {small} MiB, 8k images {large} MiB, ratio {large / small:.3f}")
    assert large <= 1.25 * small
