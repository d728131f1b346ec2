"""Autoencoder reconstruction error: analytic band errors, native-resolution tiles, diffusers loading."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
diffusers = pytest.importorskip("diffusers")

from negate_sdk.api import Sample  # noqa: E402
from negate_sdk.runtime.weights import WeightsUnavailableError  # noqa: E402
from negate_vae.extractor import VaeDc, VaeSd, VaeSdxl  # noqa: E402
from negate_vae.specs import TINY_DC, TINY_KL  # noqa: E402
from negate_vae.tiles import FEATURES, image_features, make_tiles, tile_errors  # noqa: E402


def test_band_errors_of_analytic_signals():
    original = torch.rand(2, 3, 16, 24) * 2 - 1
    shifted = original + 0.1  # a constant error lives entirely at frequency zero
    errors = tile_errors(original, shifted).numpy()
    np.testing.assert_allclose(errors[:, :2], [[0.1, 0.01]] * 2, rtol=1e-5)
    np.testing.assert_allclose(errors[:, 2:], [[0.01, 0.0, 0.0]] * 2, atol=1e-7, rtol=1e-4)
    yy, xx = torch.meshgrid(torch.arange(16), torch.arange(24), indexing="ij")
    checker = 0.2 * (-1.0) ** (yy + xx)  # the Nyquist checkerboard: all error in the high band
    errors = tile_errors(original, original + checker).numpy()
    np.testing.assert_allclose(errors[0], [0.2, 0.04, 0.0, 0.0, 0.04], atol=1e-6)


def test_band_errors_add_up_to_the_mse():
    generator = torch.Generator().manual_seed(0)
    original = torch.rand(3, 3, 32, 40, generator=generator) * 2 - 1
    noisy = original + 0.3 * torch.randn(3, 3, 32, 40, generator=generator)
    errors = tile_errors(original, noisy).numpy()
    np.testing.assert_allclose(errors[:, 2:].sum(axis=1), errors[:, 1], rtol=1e-5)
    assert (errors[:, 2:] > 0).all()


def test_tiles_are_native_resolution_multiples_of_the_factor():
    pixels = np.arange(300 * 500 * 3, dtype=np.uint32).reshape(300, 500, 3).astype(np.uint8)
    tiles = make_tiles(pixels, tile_size=256, max_tiles_per_side=2, factor=8)
    assert tiles.shape == (2, 256, 256, 3)  # 300 rows fit one tile (centred), 500 columns two
    np.testing.assert_array_equal(tiles[0], pixels[22:278, :256])
    np.testing.assert_array_equal(tiles[1], pixels[22:278, -256:])
    assert make_tiles(np.zeros((4000, 3000, 3), np.uint8), 256, 2, 8).shape == (4, 256, 256, 3)
    small = make_tiles(pixels[:100, :70], tile_size=256, max_tiles_per_side=2, factor=8)
    assert small.shape == (1, 96, 64, 3)  # one tile per side: 100 -> 96, 70 -> 64, centred
    np.testing.assert_array_equal(small[0], pixels[2:98, 3:67])
    tiny = make_tiles(pixels[:8, :8], tile_size=256, max_tiles_per_side=2, factor=32)
    assert tiny.shape == (1, 32, 32, 3)  # mirrored up to the factor
    with pytest.raises(ValueError, match="multiple of the autoencoder factor 32"):
        make_tiles(pixels, tile_size=100, max_tiles_per_side=2, factor=32)


def test_image_features_summarise_tiles():
    rows = np.array([[0.1, 0.02, 0.01, 0.005, 0.005], [0.3, 0.12, 0.1, 0.01, 0.01]])
    np.testing.assert_allclose(image_features(rows), [0.2, 0.07, 0.055, 0.0075, 0.0075, 0.1, 0.3], rtol=1e-6)


def test_a_saved_diffusers_folder_is_loaded_and_reconstructs_as_by_hand(tmp_path):
    torch.manual_seed(4)
    reference = diffusers.AutoencoderKL(**TINY_KL).eval()
    reference.save_pretrained(tmp_path / "vae")
    rng = np.random.default_rng(0)
    samples = [
        Sample.from_array(rng.integers(0, 256, shape, dtype=np.uint8)) for shape in ((40, 24, 3), (20, 36, 3))
    ]
    extractor = VaeSd(weights=str(tmp_path / "vae"), tile_size=16, device="cpu")
    X = extractor.transform(samples)
    assert X.shape == (2, len(FEATURES)) and extractor.loaded_model().source.startswith("file:")
    expected = []
    for sample in samples:
        tiles = make_tiles(sample.pixels, tile_size=16, max_tiles_per_side=2, factor=2)
        x = torch.from_numpy(tiles).permute(0, 3, 1, 2).float() / 127.5 - 1
        with torch.no_grad():
            rec = reference.decode(reference.encode(x).latent_dist.mode()).sample.clamp(-1, 1)
        expected.append(image_features(tile_errors(x, rec).numpy()))
    np.testing.assert_allclose(X, np.stack(expected), rtol=1e-4, atol=1e-6)
    assert extractor.get_feature_names_out()[0] == "vae_sd__l1"


def test_dc_autoencoder_runs_and_batches_equal_single_images():
    rng = np.random.default_rng(3)
    samples = [
        Sample.from_array(rng.integers(0, 256, (h, w, 3), dtype=np.uint8))
        for h, w in ((33, 47), (8, 8), (64, 48))
    ]
    extractor = VaeDc(pretrained=False, model_config=TINY_DC, tile_size=16, device="cpu", batch_size=3)
    X = extractor.transform(samples)
    single = np.vstack([extractor.transform([s]) for s in samples])
    np.testing.assert_allclose(X, single, rtol=1e-4, atol=1e-6)
    assert (X[:, 5] <= X[:, 0] + 1e-7).all() and (X[:, 0] <= X[:, 6] + 1e-7).all()  # min <= mean <= max


def test_missing_vae_weights_are_one_line(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("NEGATE_WEIGHTS_DIR", raising=False)
    with pytest.raises(WeightsUnavailableError) as info:
        VaeSdxl(device="cpu").transform([Sample.from_array(np.zeros((16, 16, 3), np.uint8))])
    assert "\n" not in str(info.value) and "stabilityai/sdxl-vae" in str(info.value)


def test_sdxl_autoencoder_is_not_run_in_float16_by_default():
    assert VaeSdxl(pretrained=False)._precision("cpu") == "auto"  # CPU: float32 anyway
    assert VaeSdxl(pretrained=False, precision="fp16")._precision("cpu") == "fp16"  # an explicit request wins


def test_a_folder_without_config_json_is_one_clear_line(tmp_path):
    (tmp_path / "diffusion_pytorch_model.safetensors").write_bytes(b"w")
    with pytest.raises(WeightsUnavailableError, match=r"has no config\.json next to"):
        VaeSd(weights=str(tmp_path), device="cpu").transform(
            [Sample.from_array(np.zeros((16, 16, 3), np.uint8))]
        )
