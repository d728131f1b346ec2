"""Handcrafted families against signals with known answers: sinusoids, grids, noise, JPEG, references."""

from __future__ import annotations

import colorsys
import io

import numpy as np
import pytest
import pywt
import scipy.ndimage
from PIL import Image
from skimage.feature import graycomatrix, graycoprops, local_binary_pattern

from negate_handcrafted.colour import ColourExtractor, hsv_to_rgb, rgb_to_hsv
from negate_handcrafted.context import AnalysisContext, periodic_spectrum
from negate_handcrafted.edges import EdgesExtractor
from negate_handcrafted.gabor import FREQUENCIES, GaborExtractor
from negate_handcrafted.invert_saturate import InvertSaturateExtractor
from negate_handcrafted.jpeg_ghost import QUALITIES, JpegGhostExtractor, block_dct, requantisation_curve
from negate_handcrafted.lbp import PAD, SCALES, LBPExtractor, uniform_lbp_histograms
from negate_handcrafted.patch import PatchExtractor
from negate_handcrafted.residual import ResidualExtractor
from negate_handcrafted.spectral import SpectralExtractor
from negate_handcrafted.stats import lag_product, median3x3
from negate_handcrafted.texture import ANGLES, DISTANCES, TextureExtractor, glcm, glcm_properties
from negate_handcrafted.wavelet import WaveletExtractor, dwt2
from negate_sdk.runtime.views import inverted_saturated


def rgb(gray: np.ndarray) -> np.ndarray:
    """A grey RGB uint8 image from float grey levels (rounded, clipped)."""
    return np.repeat(np.clip(np.rint(gray), 0, 255).astype(np.uint8)[..., None], 3, axis=2)


def named(extractor, pixels: np.ndarray) -> dict[str, float]:
    return dict(zip(extractor.feature_names(), extractor.raw_features(extractor.context(pixels))))


def smooth_background(shape=(256, 256)) -> np.ndarray:
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]]
    return 128 + 40 * np.sin(xx / 31.0) * np.cos(yy / 43.0)


# -- spectral ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fy", "fx", "band"),
    [
        (0.0, 20 / 128, 2),
        (12 / 128, 12 / 128, 2),
        (0.2, 0.2, 4),
        (0.05, 0.27, 4),
        (0.29, 0.08, 4),
        (0.02, 0.1, 1),
    ],
)
def test_a_pure_sinusoid_puts_its_energy_in_its_radial_band(fy, fx, band):
    size = 128
    yy, xx = np.mgrid[0:size, 0:size]
    assert int(np.hypot(fy, fx) * 16) == band  # the band the test claims
    image = rgb(128 + 100 * np.cos(2 * np.pi * (fx * xx + fy * yy) + 0.3))
    features = named(SpectralExtractor(), image)
    # > 0.92, not 1: the periodic-plus-smooth split moves the wrap-around mismatch of the borders to low
    # frequencies (for natural images that mismatch is a real discontinuity and belongs there)
    assert features[f"band_{band}_share"] > 0.92
    assert features["peak_radius"] == pytest.approx(np.hypot(fy, fx), abs=1.5 / size)


@pytest.mark.parametrize(("fy", "fx"), [(0.0, 40 / 128), (0.2, 0.0), (0.45, 0.0)])
def test_an_axis_aligned_sinusoid_gives_its_peak_at_its_frequency(fy, fx):
    yy, xx = np.mgrid[0:128, 0:128]
    features = named(SpectralExtractor(), rgb(128 + 100 * np.cos(2 * np.pi * (fx * xx + fy * yy))))
    assert features["peak_radius"] == pytest.approx(np.hypot(fy, fx), abs=1.5 / 128)
    assert features["peak_angle"] == pytest.approx(0.0, abs=1.0)  # on an axis


def test_a_periodic_dot_grid_gives_peaks_on_the_upsampling_lattice():
    rng = np.random.default_rng(0)
    noise = scipy.ndimage.gaussian_filter(rng.normal(0, 30, (256, 256)), 1.5)
    plain = rgb(128 + noise)
    grid = 128 + noise
    grid[::8, ::8] += 60  # a dot every 8 px: energy at multiples of 1/8 cycles/px
    with_grid = named(SpectralExtractor(), rgb(grid))
    without = named(SpectralExtractor(), plain)
    for lattice in ("grid2_excess", "grid4_excess", "grid8_excess"):  # log10 units: 10**3 = a thousandfold
        assert with_grid[lattice] > 3.0 and without[lattice] < 1.0
    assert with_grid["peak_excess_max"] > 5.0 > without["peak_excess_max"] + 2
    assert (with_grid["peak_radius"] * 8) % 1 == pytest.approx(0, abs=1e-6)  # on the 1/8 lattice
    assert with_grid["peak_power_share"] > 0.5 > without["peak_power_share"]


def test_a_power_law_image_has_its_slope():
    # white noise filtered to a 1/f^2 power spectrum: the log-log slope is -2
    rng = np.random.default_rng(1)
    size = 256
    fy = np.fft.fftfreq(size)[:, None]
    fx = np.fft.fftfreq(size)[None, :]
    radius = np.hypot(fy, fx)
    radius[0, 0] = 1
    field = np.real(np.fft.ifft2(np.fft.fft2(rng.normal(size=(size, size))) / radius))
    image = rgb(128 + 40 * field / field.std())
    features = named(SpectralExtractor(), image)
    assert features["slope"] == pytest.approx(-2.0, abs=0.25)
    assert abs(features["pink_dev_mid"]) < 0.3


def test_the_periodic_spectrum_equals_moisans_decomposition():
    rng = np.random.default_rng(2)
    u = rng.uniform(0, 255, (33, 47))
    height, width = u.shape
    v = np.zeros_like(u)
    v[0, :] = u[-1, :] - u[0, :]
    v[-1, :] = -v[0, :]
    v[:, 0] += u[:, -1] - u[:, 0]
    v[:, -1] -= u[:, -1] - u[:, 0]
    q, r = np.arange(height)[:, None], np.arange(width)[None, :]
    denominator = 2 * np.cos(2 * np.pi * q / height) + 2 * np.cos(2 * np.pi * r / width) - 4
    denominator[0, 0] = 1
    smooth_hat = np.fft.fft2(v) / denominator
    smooth_hat[0, 0] = 0
    periodic = u - np.real(np.fft.ifft2(smooth_hat))
    expected = np.fft.rfft2(periodic)
    np.testing.assert_allclose(
        periodic_spectrum(u.astype(np.float32)), expected, atol=1e-5 * np.abs(expected).max()
    )
    batch = np.stack([u, u[::-1]]).astype(np.float32)
    np.testing.assert_allclose(periodic_spectrum(batch)[0], periodic_spectrum(batch[0]), rtol=1e-5, atol=1e-2)


# -- residual ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("sigma", [3.0, 10.0, 20.0])
def test_gaussian_noise_sigma_is_estimated_within_ten_percent(sigma):
    rng = np.random.default_rng(int(sigma))
    image = rgb(smooth_background() + rng.normal(0, sigma, (256, 256)))
    features = named(ResidualExtractor(), image)
    assert features["noise_sigma"] == pytest.approx(sigma, rel=0.10)
    # white noise: the median residual is nearly uncorrelated beyond lag 1
    assert abs(features["median_acf2"]) < 0.2


def test_signal_dependent_noise_shows_in_the_noise_level_function():
    rng = np.random.default_rng(3)
    xx = np.mgrid[0:256, 0:256][1]
    ramp = 20 + 200 * xx / 255.0  # brightness from 20 to 220
    shot = rgb(ramp + rng.normal(0, 1, ramp.shape) * np.sqrt(ramp / 2))  # variance grows with brightness
    flat = rgb(ramp + rng.normal(0, 5, ramp.shape))
    shot_features, flat_features = named(ResidualExtractor(), shot), named(ResidualExtractor(), flat)
    assert shot_features["nlf_slope"] > 4 and shot_features["nlf_corr"] > 0.5
    assert abs(flat_features["nlf_slope"]) < 2 and abs(flat_features["nlf_corr"]) < 0.3


def test_median3x3_and_lag_products_match_references():
    rng = np.random.default_rng(4)
    values = rng.integers(0, 20, (37, 52)).astype(np.float32)
    np.testing.assert_array_equal(median3x3(values), scipy.ndimage.median_filter(values, 3, mode="nearest"))
    for dy, dx in [(0, 1), (1, 0), (1, 1), (1, -1), (2, 0), (0, 2), (3, -2)]:
        total, pairs = lag_product(values, dy, dx)
        h, w = values.shape
        first = values[: h - dy, max(-dx, 0) : w - max(dx, 0)]
        second = values[dy:, max(dx, 0) : w + min(dx, 0)]
        assert total == pytest.approx(float((first * second).sum()), rel=1e-5)
        assert pairs == first.size


# -- JPEG ghost --------------------------------------------------------------------------------------


def jpeg_roundtrip(pixels: np.ndarray, quality: int) -> np.ndarray:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=quality)
    return np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"))


def textured_colour_image(shape=(256, 320), seed=5) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = smooth_background(shape) + rng.normal(0, 8, shape)
    return np.clip(np.stack([base, 0.8 * base + 20, 0.6 * base + 40], axis=-1), 0, 255).astype(np.uint8)


@pytest.mark.parametrize("quality", [50, 70, 85])
def test_a_jpeg_shows_its_ghost_minimum_at_its_quality(quality):
    features = named(JpegGhostExtractor(), jpeg_roundtrip(textured_colour_image(), quality))
    assert features["min_quality"] == pytest.approx(quality, abs=5)
    assert features["min_ratio"] < 0.3 and features["dip_depth"] > 0.5


def test_a_never_compressed_image_has_no_ghost():
    features = named(JpegGhostExtractor(), textured_colour_image())
    assert features["min_ratio"] > 0.8


def test_dct_domain_requantisation_matches_a_real_jpeg_reencode():
    gray = np.asarray(Image.fromarray(textured_colour_image((128, 128))).convert("L"))
    errors, _ = requantisation_curve(block_dct(gray.astype(np.float32)))
    for quality, error in zip(QUALITIES, errors):
        buffer = io.BytesIO()
        Image.fromarray(gray).save(buffer, format="JPEG", quality=quality)
        decoded = np.asarray(Image.open(io.BytesIO(buffer.getvalue()))).astype(np.float64)
        mse = float(((decoded - gray) ** 2).mean())
        assert mse == pytest.approx(error + 1 / 12, abs=0.05 + 0.01 * error)  # + the decoder's rounding


# -- LBP ---------------------------------------------------------------------------------------------


def test_lbp_codes_match_scikit_image():
    rng = np.random.default_rng(6)
    gray = rng.uniform(0, 255, (40, 57)).astype(np.float32)
    for stride in (1, 3):
        for (points, radius), counts in zip(SCALES, uniform_lbp_histograms(gray, stride)):
            padded = np.pad(gray.astype(np.float64), PAD, mode="edge")
            with pytest.warns(UserWarning):  # scikit-image warns about float input; ours is float by design
                codes = local_binary_pattern(padded, points, radius, "uniform")
            reference = np.bincount(
                codes[PAD:-PAD, PAD:-PAD][::stride, ::stride].astype(int).ravel(), minlength=points + 2
            )
            assert np.abs(reference - counts).sum() <= max(
                2, counts.sum() // 500
            )  # float32 vs float64 near-ties


def test_lbp_histograms_sum_to_one_and_a_flat_image_is_all_ones():
    extractor = LBPExtractor()
    names = extractor.feature_names()
    rng = np.random.default_rng(7)
    values = extractor.raw_features(extractor.context(rgb(rng.uniform(0, 255, (90, 70)))))
    for points, radius in SCALES:
        prefix = f"p{points}_r{radius}_"
        shares = [v for n, v in zip(names, values) if n.startswith(prefix) and not n.endswith("entropy")]
        assert len(shares) == points + 2 and sum(shares) == pytest.approx(1.0)
    flat = named(extractor, rgb(np.full((32, 32), 77.0)))
    for points, radius in SCALES:
        assert flat[f"p{points}_r{radius}_bin_{points}"] == 1.0  # every neighbour >= the centre
        assert flat[f"p{points}_r{radius}_entropy"] == 0.0


# -- wavelet, Gabor, texture -------------------------------------------------------------------------


def test_the_dwt_matches_pywavelets():
    rng = np.random.default_rng(8)
    for shape in [(16, 16), (40, 62), (2, 2)]:
        x = rng.uniform(0, 255, shape).astype(np.float32)
        for wavelet in ("haar", "db2"):
            ours = dwt2(x, wavelet)
            approx, details = pywt.dwt2(x.astype(np.float64), wavelet, mode="periodization")
            np.testing.assert_allclose(ours[0], approx, atol=1e-3)
            for mine, theirs in zip(ours[1], details):
                np.testing.assert_allclose(mine, theirs, atol=1e-3)


def test_alternating_rows_put_their_energy_in_one_haar_band():
    image = rgb(
        np.tile(np.array([[40.0], [200.0]]), (32, 64))
    )  # rows alternate: a horizontal edge everywhere
    features = named(WaveletExtractor(), image)
    assert features["haar_l1_lh_log_energy"] == pytest.approx(np.log10(160.0**2 + 1e-6), abs=1e-3)
    assert features["haar_l1_hl_log_energy"] < -5 and features["haar_l1_hh_log_energy"] < -5
    assert features["haar_l1_orientation"] > 9


@pytest.mark.parametrize(("frequency_index", "theta"), [(1, 0), (1, 90), (0, 45), (2, 135)])
def test_a_sinusoid_excites_its_gabor_filter_with_half_its_amplitude(frequency_index, theta):
    size, amplitude = 256, 60.0
    frequency = FREQUENCIES[frequency_index]
    yy, xx = np.mgrid[0:size, 0:size]
    angle = np.radians(theta)
    image = rgb(128 + amplitude * np.sin(2 * np.pi * frequency * (xx * np.cos(angle) + yy * np.sin(angle))))
    features = named(GaborExtractor(), image)
    assert features[f"f{frequency_index}_o{theta}_mean"] == pytest.approx(amplitude / 2, rel=0.05)
    assert features[f"f{frequency_index}_o{theta}_cv"] < 0.12
    others = [features[f"f{frequency_index}_o{t}_mean"] for t in (0, 45, 90, 135) if t != theta]
    assert max(others) < 0.1 * amplitude


def test_glcm_matches_scikit_image():
    rng = np.random.default_rng(9)
    levels = rng.integers(0, 32, (40, 57)).astype(np.uint8)
    reference = graycomatrix(levels, DISTANCES, np.radians(ANGLES), levels=32, symmetric=True, normed=True)
    ours = glcm(levels)
    np.testing.assert_allclose(ours.reshape(reference.shape), reference, atol=1e-12)
    properties = glcm_properties(ours)
    for name, values in properties.items():
        np.testing.assert_allclose(values, graycoprops(reference, name).ravel(), atol=1e-9)


def test_vertical_stripes_have_horizontal_gradients_in_hog():
    image = rgb(np.tile(np.repeat([30.0, 220.0], 4), (64, 8)))  # stripes 4 px wide, varying along x
    features = named(TextureExtractor(), image)
    assert features["hog_bin_0"] > 0.95  # gradient orientation 0°: along x
    assert features["hog_cell_dominance"] > 0.95
    assert features["glcm_correlation_d1_a90"] == pytest.approx(1.0)  # along the stripes: identical rows


# -- edges -------------------------------------------------------------------------------------------


def test_edges_measure_stroke_width_straightness_and_dimension():
    lines = np.full((128, 128), 230.0)
    for x in range(10, 120, 16):
        lines[:, x : x + 3] = 20.0  # vertical strokes 3 px wide
    features = named(EdgesExtractor(), rgb(lines))
    assert features["stroke_width_mean"] == pytest.approx(3.0)
    assert features["straightness"] > 0.99 and features["straight_share"] == 1.0
    assert features["edge_sharpness"] == pytest.approx(0.5, abs=0.05)

    xx = np.mgrid[0:128, 0:128][1]
    step = named(EdgesExtractor(), rgb(np.where(xx < 64, 50.0, 200.0)))
    assert step["fractal_dimension"] == pytest.approx(1.0, abs=0.02)
    blurred = named(EdgesExtractor(), rgb(50 + 150 / (1 + np.exp(-(xx - 64) / 3.0))))
    assert blurred["edge_sharpness"] < 0.25 < step["edge_sharpness"]
    noise = named(EdgesExtractor(), rgb(np.random.default_rng(10).uniform(0, 255, (128, 128))))
    assert noise["fractal_dimension"] > 1.8


# -- colour and invert-saturate ----------------------------------------------------------------------


def sample_colours(n=3000, seed=11) -> np.ndarray:
    rng = np.random.default_rng(seed)
    colours = rng.integers(0, 256, (n, 3)).astype(np.float64) / 255
    colours[:8] = colours[:8, :1]  # greys
    colours[8:14] = [[1, 1, 0.5], [0.2, 1, 1], [0, 0, 0], [1, 0, 1], [1, 1, 1], [0, 0.5, 0.5]]  # ties
    return colours


def test_the_hsv_conversion_matches_colorsys():
    colours = sample_colours()
    h, s, v = rgb_to_hsv(*colours.T)
    reference = np.array([colorsys.rgb_to_hsv(*c) for c in colours])
    np.testing.assert_allclose(np.stack([h, s, v], axis=1), reference, atol=1e-12)
    back = np.stack(hsv_to_rgb(*reference.T), axis=1)
    np.testing.assert_allclose(back, [colorsys.hsv_to_rgb(*c) for c in reference], atol=1e-12)
    h32, s32, v32 = rgb_to_hsv(*colours.T.astype(np.float32))
    np.testing.assert_allclose(np.stack([h32, s32, v32], axis=1), reference, atol=1e-6)


@pytest.mark.parametrize("factor", [2.0, 8.0])
def test_the_inverted_saturated_view_matches_an_hsv_round_trip_through_colorsys(factor):
    pixels = np.rint(sample_colours() * 255).astype(np.uint8)[None]
    view, clipped, _ = inverted_saturated(pixels, factor)
    expected, expected_clipped = [], []
    for p in pixels[0]:
        h, s, v = colorsys.rgb_to_hsv(*((255 - p.astype(float)) / 255))
        expected_clipped.append(s * factor > 1)
        expected.append(np.array(colorsys.hsv_to_rgb(h, min(1.0, s * factor), v)) * 255)
    np.testing.assert_allclose(view[:, 0, :].T, expected, atol=1e-3)
    assert np.mean(clipped[0] != np.array(expected_clipped)) < 0.01  # float32 ties at exactly 1


def test_colour_statistics_of_known_images():
    two = np.zeros((16, 16, 3), dtype=np.uint8)
    two[:, :8] = [255, 0, 0]
    two[:, 8:] = [0, 0, 255]
    features = named(ColourExtractor(), two)
    assert features["joint_entropy"] == pytest.approx(1.0)
    assert features["saturation_mean"] == 1.0 and features["saturation_grey_share"] == 0.0
    assert features["hue_entropy"] == pytest.approx(1.0)
    assert features["corr_rb"] == pytest.approx(-1.0)
    red = named(ColourExtractor(), np.full((16, 16, 3), [200, 0, 0], dtype=np.uint8))
    assert red["hue_concentration"] == pytest.approx(1.0) and red["r_mean"] == 200.0


def test_invert_saturate_leaves_greys_unclipped_and_depends_on_its_factor():
    grey = rgb(smooth_background((64, 64)))
    features = named(InvertSaturateExtractor(), grey)
    assert features["saturation_clip_share"] == 0.0 and features["view_saturation_mean"] == 0.0
    assert features["edge_density_ratio"] == pytest.approx(0.0, abs=0.05)  # inversion alone keeps edges
    colourful = textured_colour_image((64, 64))
    mild = named(InvertSaturateExtractor(saturation_factor=2.0), colourful)
    strong = named(InvertSaturateExtractor(saturation_factor=8.0), colourful)
    assert strong["saturation_clip_share"] > mild["saturation_clip_share"]
    with pytest.raises(ValueError, match="saturation_factor must be positive"):
        InvertSaturateExtractor(saturation_factor=0).features(colourful)


# -- patch -------------------------------------------------------------------------------------------


def test_patch_statistics_tell_uniform_from_mixed_images():
    rng = np.random.default_rng(12)
    uniform = named(PatchExtractor(), rgb(128 + rng.normal(0, 20, (256, 256))))
    assert uniform["mean_cv"] < 0.01 and uniform["std_cv"] < 0.05 and uniform["similarity_mean"] > 0.99
    half = 128 + rng.normal(0, 20, (256, 256))
    half[:, 128:] = 128
    mixed = named(PatchExtractor(), rgb(half))
    assert mixed["std_cv"] == pytest.approx(1.0, abs=0.05)
    assert mixed["profile_distance_max"] > 1.0 > uniform["profile_distance_max"]


def test_the_detail_crop_reuses_the_working_crops_grayscale():
    pixels = textured_colour_image((600, 700))
    ctx = AnalysisContext(pixels)
    full_gray = ctx.gray  # computed first: the detail crop then slices it
    np.testing.assert_array_equal(ctx.detail.gray, AnalysisContext(ctx.detail.rgb).gray)
    assert np.shares_memory(full_gray, ctx.gray) and ctx.detail.n_pixels < ctx.n_pixels


@pytest.mark.parametrize("shape", [(8, 8), (37, 52), (64, 48)])
def test_band_shares_match_a_full_plane_reference(shape):
    rng = np.random.default_rng(13)
    pixels = rgb(rng.uniform(0, 255, shape))
    features = named(SpectralExtractor(), pixels)
    ctx = AnalysisContext(pixels)
    full = np.abs(np.fft.fft2(np.fft.irfft2(ctx.spectrum, s=ctx.shape))) ** 2  # full plane, periodic part
    radius = np.hypot(np.fft.fftfreq(shape[0])[:, None], np.fft.fftfreq(shape[1])[None, :])
    full[0, 0] = 0
    bands = np.minimum((radius * 16).astype(int), 8)
    expected = np.bincount(bands.ravel(), full.ravel(), minlength=9) / full.sum()
    shares = [features[f"band_{k}_share"] for k in range(8)] + [features["corner_share"]]
    np.testing.assert_allclose(shares, expected, atol=1e-5)
