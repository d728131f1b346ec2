"""The handcrafted plugin as a whole: registration, the union, degenerate images, rotations, docs, pools."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import negate_sdk
from negate_handcrafted import docs
from negate_handcrafted.context import DETAIL_PIXELS, AnalysisContext, crop_box, working_crop
from negate_handcrafted.parallel import transform_parallel
from negate_handcrafted.plugin import EXTRACTORS
from negate_handcrafted.union import FAMILIES, FAMILY_NAMES, HandcraftedUnion
from negate_sdk import Sample

ROOT = Path(__file__).resolve().parents[1]


def natural_like(shape=(96, 96), seed=0) -> np.ndarray:
    """A colour image with smooth content, edges, texture and noise (no exact symmetry)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]].astype(np.float64)
    base = 120 + 50 * np.sin(xx / 7.3 + yy / 11.1) + 30 * (((xx // 12) + (yy // 9)) % 2)
    base += 25 * np.exp(-((xx - shape[1] * 0.3) ** 2 + (yy - shape[0] * 0.6) ** 2) / 200.0)
    channels = [
        base + rng.normal(0, 6, shape),
        0.7 * base + 40 + rng.normal(0, 6, shape),
        255 - base + rng.normal(0, 6, shape),
    ]
    return np.clip(np.stack(channels, axis=-1), 0, 255).astype(np.uint8)


def test_every_family_and_the_union_are_registered_with_the_handcrafted_tag(default_host):
    registry = default_host.registry("extractor")
    for name in [*FAMILY_NAMES, "handcrafted"]:
        entry = registry.get(name)
        assert "handcrafted" in entry.tags and entry.description
        assert entry.lazy and entry.factory_path == EXTRACTORS[name][0]
        extractor = negate_sdk.create_extractor(name)
        assert extractor.name == name


def test_feature_names_are_prefixed_and_unique():
    for family in FAMILIES:
        names = list(family().get_feature_names_out())
        assert len(names) == len(set(names)) and all(n.startswith(f"{family.name}__") for n in names)
        assert all(re.fullmatch(r"[a-z0-9_]+", n.split("__", 1)[1]) for n in names)


def test_the_union_is_exactly_the_concatenation_of_the_families():
    union = HandcraftedUnion()
    samples = [Sample.from_array(natural_like((70, 90), seed)) for seed in range(2)]
    samples.append(Sample.from_array(natural_like((300, 620), 5)))  # cropped: exercises the detail crop
    expected = np.hstack([family().transform(samples) for family in FAMILIES])
    names = np.concatenate([family().get_feature_names_out() for family in FAMILIES])
    np.testing.assert_array_equal(union.transform(samples), expected)
    assert list(union.get_feature_names_out()) == list(names)


def test_the_union_takes_a_subset_and_passes_its_parameters_on():
    union = HandcraftedUnion(families=("colour", "invert_saturate"), saturation_factor=3.0, max_pixels=4096)
    pixels = natural_like((80, 100))
    expected = np.concatenate([
        negate_sdk.create_extractor("colour", max_pixels=4096).features(pixels),
        negate_sdk.create_extractor("invert_saturate", max_pixels=4096, saturation_factor=3.0).features(
            pixels
        ),
    ])  # fmt: skip
    np.testing.assert_array_equal(union.features(pixels), expected)
    with pytest.raises(ValueError, match="unknown handcrafted families \\['colours'\\]"):
        HandcraftedUnion(families=("colours",)).feature_names()
    assert HandcraftedUnion(max_pixels=4096).cache_key != HandcraftedUnion().cache_key


@pytest.mark.parametrize(
    "pixels",
    [
        np.full((64, 64, 3), 0, dtype=np.uint8),
        np.full((64, 80, 3), 255, dtype=np.uint8),
        np.full((8, 8, 3), 131, dtype=np.uint8),
        np.zeros((1, 1, 3), dtype=np.uint8),
        np.random.default_rng(0).integers(0, 256, (8, 8, 3), dtype=np.uint8),
        np.random.default_rng(1).integers(0, 256, (3, 50, 3), dtype=np.uint8),
        np.tile(np.array([[[0, 0, 0]], [[255, 255, 255]]], dtype=np.uint8), (20, 33, 1)),
        np.random.default_rng(2).integers(0, 256, (1500, 2600, 3), dtype=np.uint8),
        np.random.default_rng(3).integers(0, 256, (9, 40000, 3), dtype=np.uint8),
    ],
    ids=["black", "white", "constant-8px", "1px", "noise-8px", "3x50", "stripes", "huge", "9x40000"],
)
def test_every_feature_is_finite_for_degenerate_images(pixels):
    union = HandcraftedUnion()
    values = union.raw_features(union.context(pixels))  # before the final nan_to_num guard
    bad = [n for n, v in zip(union.feature_names(), values) if not np.isfinite(v)]
    assert not bad, f"non-finite: {bad}"


def test_constant_images_give_defined_values():
    union = HandcraftedUnion()
    features = dict(zip(union.feature_names(), union.features(np.full((64, 64, 3), 90, dtype=np.uint8))))
    assert features["spectral__log_ac_power"] == pytest.approx(-6.0)
    assert features["spectral__band_3_share"] == 0.0 and features["residual__noise_sigma"] == 0.0
    assert features["lbp__p8_r1_bin_8"] == 1.0 and features["edges__edge_density"] == 0.0
    assert features["colour__saturation_mean"] == 0.0 and features["colour__r_mean"] == 90.0
    assert features["texture__glcm_correlation_d1_mean"] == 1.0  # scikit-image's convention for flat images
    assert features["gabor__f0_mean"] == 0.0 and features["patch__similarity_mean"] == 1.0


@pytest.mark.parametrize("family", FAMILIES, ids=FAMILY_NAMES)
def test_rotation_invariant_features_survive_a_90_degree_rotation(family):
    extractor = family()
    pixels = natural_like((128, 128), seed=3)
    assert DETAIL_PIXELS >= 128 * 128  # analysed whole, every grid at stride 1
    before = extractor.raw_features(extractor.context(pixels))
    after = extractor.raw_features(extractor.context(np.ascontiguousarray(np.rot90(pixels))))
    specs = extractor.feature_specs()
    if not any(spec.rotation_invariant for spec in specs):
        pytest.skip(f"{family.name} declares no rotation-invariant feature")
    mismatched = [
        (spec.name, b, a)
        for spec, b, a in zip(specs, before, after)
        if spec.rotation_invariant and not np.isclose(a, b, rtol=2e-3, atol=2e-3)
    ]
    assert not mismatched


def test_rotation_sensitive_features_do_change_under_rotation():
    # the flags are not simply all True: orientation features see a 90° rotation
    pixels = natural_like((128, 128), seed=4)
    texture = HandcraftedUnion(families=("texture",))
    before = dict(zip(texture.feature_names(), texture.features(pixels)))
    after = dict(zip(texture.feature_names(), texture.features(np.ascontiguousarray(np.rot90(pixels)))))
    assert before["texture__glcm_contrast_d1_a0"] == pytest.approx(
        after["texture__glcm_contrast_d1_a90"], rel=1e-6
    )
    assert before["texture__glcm_contrast_d1_a0"] != pytest.approx(before["texture__glcm_contrast_d1_a90"])


def test_large_images_are_cropped_not_squashed():
    top, left, height, width = crop_box(3000, 4000, 512 * 512)
    assert height * width <= 512 * 512 and abs(height / width - 0.75) < 0.01
    assert top % 16 == 0 and left % 16 == 0 and abs(top + height / 2 - 1500) <= 16
    pixels = np.random.default_rng(0).integers(0, 256, (300, 1000, 3), dtype=np.uint8)
    crop = working_crop(pixels, 100 * 100)
    assert crop.shape[0] * crop.shape[1] <= 10_000 and crop.shape[1] / crop.shape[0] == pytest.approx(
        1000 / 300, rel=0.05
    )
    top, left, height, width = crop_box(300, 1000, 100 * 100)
    np.testing.assert_array_equal(crop, pixels[top : top + height, left : left + width])
    assert working_crop(np.zeros((5, 3, 3), dtype=np.uint8)).shape == (8, 8, 3)  # tiny images are padded
    ctx = AnalysisContext(pixels)
    assert ctx.detail.n_pixels <= DETAIL_PIXELS < ctx.n_pixels <= 512 * 512 and ctx.crop(10**9) is ctx


def test_parallel_extraction_equals_serial_and_streams_paths(tmp_path):
    paths = []
    for i in range(7):
        path = tmp_path / f"image_{i}.png"
        Image.fromarray(natural_like((48 + 8 * i, 64), seed=i)).save(path)
        paths.append(path)
    union = HandcraftedUnion()
    serial = union.transform([Sample.from_path(p) for p in paths])
    seen = []
    parallel = transform_parallel(
        union,
        [Sample.from_path(p) for p in paths],
        n_jobs=2,
        chunk_size=2,
        progress=lambda stage, advance, total: seen.append(advance),
    )
    np.testing.assert_array_equal(parallel, serial)
    assert sum(seen) == len(paths) and parallel.dtype == np.float32
    np.testing.assert_array_equal(union.transform([Sample.from_path(p) for p in paths], n_jobs=2), serial)
    assert transform_parallel(union, [], n_jobs=2).shape == (0, len(union.feature_names()))


def test_the_documentation_is_generated_from_the_code():
    page = (ROOT / "docs" / "handcrafted.md").read_text()
    assert page == docs.render(), (
        "docs/handcrafted.md is stale: run python -m negate_handcrafted.docs docs/handcrafted.md"
    )
    for name in HandcraftedUnion().feature_names():
        assert f"`{name}`" in page


def test_serial_transform_releases_only_the_pixels_it_decoded(tmp_path):
    path = tmp_path / "image.png"
    Image.fromarray(natural_like((40, 40))).save(path)
    fresh, kept = Sample.from_path(path), Sample.from_path(path)
    kept.decode()
    extractor = negate_sdk.create_extractor("colour")
    X = extractor.transform([fresh, kept])
    np.testing.assert_array_equal(X[0], X[1])
    assert fresh._decoded is None and kept._decoded is not None
