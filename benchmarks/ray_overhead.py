"""Throughput of feature extraction on this machine: local (one process, a process pool) against Ray.

Each executor extracts the same images into a fresh feature store, from fresh samples (nothing cached:
bytes are read, hashed, decoded and transformed every time). Ray runs on a local instance with
``--cpus`` CPUs; its first call pays for starting the actors ("ray cold"), the second does not ("ray
warm"). Every executor's matrix is checked to equal the serial one. Images are spread over the sources
of ``../shared/datasets`` when present, else generated 256 x 256 PNGs.

    .venv/bin/python benchmarks/ray_overhead.py [--n 600] [--extractors example_colour_moments,spectral]
        [--cpus 2] [--data ../shared/datasets] [--json out.json]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

from negate_sdk import Sample
from negate_sdk.catalog import create_extractor
from negate_sdk.features import FeatureMatrix, extract_features
from negate_sdk.store import FeatureStore


def image_paths(data: Path, n: int, scratch: Path) -> list[Path]:
    """``n`` image files: evenly spread over the dev manifest's rows, or generated when it is absent."""
    manifest = data / "manifest.csv"
    if manifest.is_file():
        with open(manifest, newline="") as handle:
            rows = list(csv.DictReader(handle))
        step = max(1, len(rows) // n)
        return [data / row["path"] for row in rows[::step][:n]]
    rng = np.random.default_rng(0)
    paths = []
    for i in range(n):
        path = scratch / "images" / f"{i}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (256, 256, 3), dtype=np.uint8)).save(path)
        paths.append(path)
    return paths


def timed(label: str, run: Callable[[], FeatureMatrix], n: int, results: dict) -> FeatureMatrix:
    """Run ``run()``, record its wall time and images per second under ``label``."""
    start = time.perf_counter()
    matrix = run()
    seconds = time.perf_counter() - start
    results[label] = {"seconds": round(seconds, 3), "images_per_s": round(n / seconds, 2)}
    print(f"{label:<14} {seconds:8.2f} s  {n / seconds:8.1f} images/s", flush=True)
    return matrix


def main() -> None:
    """Measure and print the table (and write ``--json``)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=600)
    parser.add_argument("--extractors", default="example_colour_moments,spectral")
    parser.add_argument("--cpus", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--chunk-size", type=int, default=128)
    parser.add_argument("--data", type=Path, default=Path("../shared/datasets"))
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

    import ray

    from negate_sdk.distributed import ray_extract_features

    names = [n.strip() for n in args.extractors.split(",")]
    extractors = [create_extractor(n) for n in names]
    results: dict = {}
    with tempfile.TemporaryDirectory() as scratch:
        scratch_dir = Path(scratch)
        paths = image_paths(args.data, args.n, scratch_dir)
        n = len(paths)
        print(f"{n} images, extractors {names}, {args.cpus} CPUs (machine shared with other work)")

        def fresh() -> list[Sample]:
            return [Sample.from_path(p) for p in paths]

        def store(name: str) -> FeatureStore:
            return FeatureStore(scratch_dir / name)

        chunk = args.chunk_size
        serial = timed(
            "local serial",
            lambda: extract_features(extractors, fresh(), store=store("a"), chunk_size=chunk),
            n,
            results,
        )
        pool = timed(
            f"local pool({args.cpus})",
            lambda: extract_features(
                extractors, fresh(), store=store("b"), chunk_size=chunk, n_jobs=args.cpus
            ),
            n,
            results,
        )
        start = time.perf_counter()
        ray.init(num_cpus=args.cpus, include_dashboard=False, log_to_driver=False)
        results["ray start"] = {"seconds": round(time.perf_counter() - start, 3)}
        print(f"{'ray start':<14} {results['ray start']['seconds']:8.2f} s", flush=True)
        try:
            cold = timed(
                "ray cold",
                lambda: ray_extract_features(extractors, fresh(), store=store("c"), chunk_size=chunk),
                n,
                results,
            )
            warm = timed(
                "ray warm",
                lambda: ray_extract_features(extractors, fresh(), store=store("d"), chunk_size=chunk),
                n,
                results,
            )
        finally:
            ray.shutdown()
        for matrix in (pool, cold, warm):
            np.testing.assert_array_equal(matrix.X, serial.X)
            assert matrix.failures == serial.failures
    for label in ("ray cold", "ray warm"):
        for base in ("local serial", f"local pool({args.cpus})"):
            ratio = results[label]["seconds"] / results[base]["seconds"]
            results[f"{label} / {base}"] = round(ratio, 3)
            print(f"{label} / {base}: {ratio:.2f}x the time")
    print("all executors gave identical feature matrices")
    if args.json:
        args.json.write_text(json.dumps({"n_images": n, "extractors": names, **results}, indent=2))


if __name__ == "__main__":
    main()
