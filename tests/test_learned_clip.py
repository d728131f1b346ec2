"""open_clip image embeddings: weights loaded through open_clip's loader, L2 norm, CLIP metadata."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
open_clip = pytest.importorskip("open_clip")

from negate_clip.extractor import ClipExtractor, ClipVitB32, ClipVitL14, MobileClip2S0  # noqa: E402
from negate_clip.specs import OPENAI_MEAN, OPENAI_STD, TINY_CLIP  # noqa: E402
from negate_sdk.api import Sample  # noqa: E402
from negate_sdk.catalog import get_extractor, list_extractors  # noqa: E402
from negate_sdk.runtime.views import ViewSpec, make_views  # noqa: E402
from negate_sdk.runtime.weights import WeightsUnavailableError  # noqa: E402


@pytest.fixture(scope="module")
def samples():
    rng = np.random.default_rng(0)
    return [
        Sample.from_array(rng.integers(0, 256, shape, dtype=np.uint8)) for shape in ((48, 64, 3), (90, 40, 3))
    ]


def test_a_saved_clip_checkpoint_gives_open_clips_own_normalised_embedding(tmp_path, samples):
    from safetensors.torch import save_file

    torch.manual_seed(3)
    reference = open_clip.CLIP(**TINY_CLIP, quick_gelu=True).eval()
    save_file(
        {k: v.contiguous() for k, v in reference.state_dict().items()},
        tmp_path / "open_clip_model.safetensors",
    )
    extractor = ClipVitB32(weights=str(tmp_path), model_config=TINY_CLIP, device="cpu")
    X = extractor.transform(samples)
    assert extractor.loaded_model().source.startswith("file:")
    views = np.concatenate([make_views(s.pixels, ViewSpec(32, 1.0, "bicubic")) for s in samples])
    x = torch.from_numpy(views).permute(0, 3, 1, 2).float() / 255
    x = (x - torch.tensor(OPENAI_MEAN).view(1, 3, 1, 1)) / torch.tensor(OPENAI_STD).view(1, 3, 1, 1)
    with torch.no_grad():
        expected = reference.encode_image(x, normalize=True).numpy()
    np.testing.assert_allclose(X, expected, rtol=1e-4, atol=1e-5)


def test_embeddings_are_unit_length_also_with_multi_crop(samples):
    big = Sample.from_array(np.random.default_rng(1).integers(0, 256, (120, 160, 3), dtype=np.uint8))
    extractor = ClipVitL14(pretrained=False, model_config=TINY_CLIP, multi_crop=3, device="cpu")
    X = extractor.transform([*samples, big])
    np.testing.assert_allclose(np.linalg.norm(X, axis=1), 1.0, atol=1e-5)
    single = np.vstack([extractor.transform([s]) for s in [*samples, big]])
    np.testing.assert_allclose(single, X, rtol=1e-4, atol=1e-5)


def test_every_clip_extractor_declares_uses_clip_as_attribute_and_metadata():
    names = list_extractors("clip_*")
    assert set(names) >= {"clip_vit_l14", "clip_vit_b32", "clip_mobileclip2_s0"}
    for cls in (ClipVitL14, ClipVitB32, MobileClip2S0):
        assert cls.uses_clip is True and issubclass(cls, ClipExtractor)
    for name in names:
        assert get_extractor(name).metadata["uses_clip"] is True
    assert get_extractor("timm_efficientnet_lite0").metadata["uses_clip"] is False


def test_missing_clip_weights_fail_fast_in_one_line(monkeypatch, samples):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("NEGATE_WEIGHTS_DIR", raising=False)
    with pytest.raises(WeightsUnavailableError) as info:
        ClipVitL14(device="cpu").transform(samples)
    message = str(info.value)
    assert "\n" not in message and "timm/vit_large_patch14_clip_224.openai" in message and "(MIT)" in message
