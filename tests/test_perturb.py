"""Robustness conditions: what each perturbation does to pixels, determinism, presets."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from negate_sdk.api import Sample
from negate_sdk.bench.perturb import CONDITIONS, PRESETS, perturb, resolve_conditions


def photo(h=60, w=80, seed=0, label=1):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([xx * 3, yy * 4, (xx + yy) * 2], -1) % 256
    pixels = np.clip(base + rng.normal(0, 8, base.shape), 0, 255).astype(np.uint8)
    return Sample.from_array(pixels, id=f"p{seed}", label=label, source="unit", generator="sd-1.4")


@pytest.mark.parametrize("quality", [95, 75, 30])
def test_jpeg_conditions_encode_at_their_quality(quality):
    out = perturb(photo(), f"jpeg_q{quality}")
    assert out.metadata.format == "JPEG" and out.metadata.jpeg_quality == quality
    assert out.pixels.shape == (60, 80, 3)


def test_resize_crop_and_social_sizes():
    assert perturb(photo(), "resize_x0.5").pixels.shape == (30, 40, 3)
    assert perturb(photo(), "resize_x0.25").pixels.shape == (15, 20, 3)
    assert perturb(photo(), "crop_50").pixels.shape == (30, 40, 3)
    big = Sample.from_array(np.zeros((1200, 2400, 3), np.uint8), label=0)
    social = perturb(big, "social")
    assert social.pixels.shape == (540, 1080, 3) and social.metadata.jpeg_quality == 85
    small = perturb(photo(), "social")
    assert small.pixels.shape == (60, 80, 3)  # smaller images are not upscaled
    tiny = Sample.from_array(np.zeros((10, 12, 3), np.uint8), label=0)
    assert min(perturb(tiny, "resize_x0.25").pixels.shape[:2]) == 8  # never under the 8 px minimum


def test_blur_lowers_high_frequencies_and_noise_has_its_sigma():
    flat = Sample.from_array(np.full((64, 64, 3), 128, np.uint8), label=0)
    noisy = perturb(flat, "noise_s10").pixels.astype(float)
    assert noisy.std() == pytest.approx(10, rel=0.05) and noisy.mean() == pytest.approx(128, abs=0.5)
    sample = photo(seed=3)
    blurred = perturb(sample, "blur_s2").pixels.astype(float)
    laplacian = lambda a: np.abs(np.diff(a, 2, axis=0)).mean()  # noqa: E731
    assert laplacian(blurred) < laplacian(sample.pixels.astype(float)) / 3


def test_perturbations_are_deterministic_per_image_and_lazy():
    sample = photo(seed=5)
    a, b = perturb(sample, "noise_s5", seed=1), perturb(photo(seed=5), "noise_s5", seed=1)
    assert a.sha256 == b.sha256 and a._data is not None
    a.release()
    assert a._data is None and a.sha256 == b.sha256  # recomputed identically after release
    np.testing.assert_array_equal(a.pixels, b.pixels)
    assert perturb(sample, "noise_s5", seed=2).sha256 != a.sha256
    assert perturb(photo(seed=6), "noise_s5", seed=1).sha256 != a.sha256
    clone = pickle.loads(pickle.dumps(perturb(sample, "jpeg_q50")))
    assert clone.sha256 == perturb(sample, "jpeg_q50").sha256
    assert (clone.label, clone.generator, clone.attrs["condition"]) == (1, "sd-1.4", "jpeg_q50")


def test_presets_and_unknown_names():
    assert PRESETS["jpeg"] == ["jpeg_q95", "jpeg_q90", "jpeg_q75", "jpeg_q50", "jpeg_q30"]
    assert set(PRESETS["all"]) == set(CONDITIONS)
    assert resolve_conditions(["blur", "blur_s1", "crop"]) == ["blur_s1", "blur_s2", "blur_s4", "crop_50"]
    with pytest.raises(ValueError, match="unknown perturbation 'jpg'"):
        resolve_conditions(["jpg"])


def test_format_equalise_reencodes_every_format_identically():
    png = photo(seed=1)
    out = perturb(png, "format_equalise")
    assert out.metadata.format == "JPEG" and out.metadata.jpeg_quality == 90
    assert out.metadata.exif == {} and out.metadata.text == {}
