"""Shared benchmark inputs: photo-like JPEG files, and where this machine keeps the dev data and weights."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

N_IMAGES = 64
SHARED = Path(__file__).resolve().parents[1].parent / "shared"
DEV_DATA = Path(os.environ.get("NEGATE_DEV_DATA", SHARED / "datasets"))
WEIGHTS = SHARED / "weights"


@pytest.fixture(scope="session")
def jpeg_paths(tmp_path_factory):
    """64 photo-like 512 x 512 JPEGs (quality 90, ~90 KB): smooth shading, edges and sensor-like noise,
    so the encoder does real work."""
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
