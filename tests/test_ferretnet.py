"""FerretNet-S: strict loading of the authors' checkpoint, median residual, test view, demo images."""

from __future__ import annotations

import csv
import hashlib
import itertools
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from negate_published.ferretnet import (
    CLIP_MEAN,
    CLIP_STD,
    FERRETNET_S_WEIGHTS,
    STATE_DICT_VALUES,
    ferretnet_input,
    ferretnet_view,
    load_ferretnet,
    median_residual,
)
from negate_sdk.artifacts import ArtifactError
from negate_sdk.imaging import open_image

torch = pytest.importorskip("torch")

# The authors' files, copied byte for byte for offline use (never into this repository).
WEIGHTS_DIR = (
    Path(os.environ.get("NEGATE_WEIGHTS_DIR") or Path(__file__).resolve().parents[2] / "shared" / "weights")
    / "ferretnet_s"
)
CHECKPOINT = WEIGHTS_DIR / "ferretnet-s-median-3.pth"
DEMO_DIR = WEIGHTS_DIR / "demo"
needs_checkpoint = pytest.mark.skipif(not CHECKPOINT.is_file(), reason=f"{CHECKPOINT} not on this machine")


@pytest.fixture(scope="module")
def model():
    if not CHECKPOINT.is_file():
        pytest.skip(f"{CHECKPOINT} not on this machine")
    return load_ferretnet(CHECKPOINT)


@pytest.fixture(scope="module")
def published_state():
    if not CHECKPOINT.is_file():
        pytest.skip(f"{CHECKPOINT} not on this machine")
    return torch.load(CHECKPOINT, map_location="cpu", weights_only=True)["model"]


# --- loading --------------------------------------------------------------------------------------


@needs_checkpoint
def test_checkpoint_is_the_published_file():
    assert hashlib.sha256(CHECKPOINT.read_bytes()).hexdigest() == FERRETNET_S_WEIGHTS.sha256


def test_real_checkpoint_loads_strictly(model, published_state):
    state = model.state_dict()
    assert sum(t.numel() for t in state.values()) == STATE_DICT_VALUES == 128_317
    # nn.Parameters only: the rest are BN running means and variances (2 × 1,008) and 12 batch counters
    assert sum(p.numel() for p in model.parameters()) == 128_317 - 2 * 1_008 - 12
    assert list(state) == list(published_state)
    assert all(torch.equal(state[k], published_state[k]) for k in state)
    assert not model.training


def _save(tmp_path: Path, obj, name: str = "ckpt.pth") -> Path:
    path = tmp_path / name
    torch.save(obj, path)
    return path


def _without(state, key):
    return {k: v for k, v in state.items() if k != key}


def _reshaped(state, key):
    return {k: (torch.zeros(65, 32, 1, 1) if k == key else v) for k, v in state.items()}


@pytest.mark.parametrize(
    ("alter", "words"),
    [
        (lambda s: {"model": _without(s, "feature.1.0.shortcut.0.bias")}, "missing 'feature.1.0.shortcut"),
        (lambda s: {"model": _reshaped(s, "feature.0.0.shortcut.0.weight")}, "has shape (65, 32, 1, 1)"),
        (lambda s: {"model": {**s, "head.weight": torch.zeros(1)}}, "unexpected 'head.weight'"),
        (lambda s: {"model": {**s, "logit.1.bias": torch.tensor([float("nan")])}}, "NaN or infinite"),
        (lambda s: {"model": [1, 2, 3]}, "expected {'model': state_dict}"),
    ],
    ids=["key-removed", "shape-changed", "key-added", "nan", "not-a-state-dict"],
)
def test_altered_checkpoint_is_refused_in_one_line(tmp_path, published_state, alter, words):
    path = _save(tmp_path, alter(dict(published_state)), "altered.pth")
    with pytest.raises(ArtifactError) as caught:
        load_ferretnet(path)
    message = str(caught.value)
    assert "\n" not in message
    assert "altered.pth" in message
    assert words in message


def test_bare_state_dict_loads_like_the_wrapped_one(tmp_path, published_state, model):
    bare = load_ferretnet(_save(tmp_path, dict(published_state)))
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in bare.state_dict().items())


class _Planted:
    pass


def test_pickled_object_and_missing_file_are_refused(tmp_path):
    with pytest.raises(ArtifactError, match="not a weights-only torch checkpoint") as caught:
        load_ferretnet(_save(tmp_path, {"model": _Planted()}, "planted.pth"))
    assert "\n" not in str(caught.value)
    with pytest.raises(ArtifactError, match="no FerretNet checkpoint file"):
        load_ferretnet(tmp_path / "absent.pth")


# --- the local-pixel-dependency residual ----------------------------------------------------------


def _brute_force_residual(x: np.ndarray, window: int) -> np.ndarray:
    """x - masked median, one window at a time: zero padding, centre set to 0, middle of the sorted values."""
    half = window // 2
    padded = np.pad(x, ((0, 0), (0, 0), (half, half), (half, half)))
    out = np.empty_like(x)
    n, c, h, w = x.shape
    for i, j, r, s in itertools.product(range(n), range(c), range(h), range(w)):
        values = padded[i, j, r : r + window, s : s + window].copy()
        values[half, half] = 0.0
        median = np.sort(values, axis=None)[(window * window) // 2]
        out[i, j, r, s] = x[i, j, r, s] - median
    return out


@pytest.mark.parametrize("window", [3, 5])
@pytest.mark.parametrize("kind", ["continuous", "ties"])
def test_median_residual_equals_brute_force(window, kind):
    rng = np.random.default_rng(window)
    if kind == "continuous":
        x = rng.normal(size=(2, 3, 9, 11)).astype(np.float32)
    else:  # few distinct values: ties everywhere, and the padding zeros often decide the median
        x = rng.integers(-2, 3, size=(2, 3, 9, 11)).astype(np.float32)
    got = median_residual(torch.from_numpy(x), window).numpy()
    np.testing.assert_array_equal(got, _brute_force_residual(x, window))


def test_median_residual_borders_by_hand():
    # A constant 5 image: inside, the window holds eight 5s and the masked centre 0 -> median 5, residual 0.
    # A corner sees 3 image values, 5 padding zeros and the centre 0 -> median 0, residual 5; an edge
    # sees 5 image values and 4 zeros -> median 5, residual 0.
    x = torch.full((1, 1, 4, 5), 5.0)
    expected = torch.zeros(1, 1, 4, 5)
    expected[..., [0, 0, -1, -1], [0, -1, 0, -1]] = 5.0
    assert torch.equal(median_residual(x), expected)


def test_median_of_9_network_selects_the_median_of_every_binary_input():
    # 0-1 principle: a comparator network selects the k-th value of every input iff it does on all 0/1 inputs.
    from negate_published.ferretnet_net import _median_of_9

    patterns = torch.tensor(list(itertools.product([0.0, 1.0], repeat=9)))  # (512, 9)
    got = _median_of_9([patterns[:, k] for k in range(9)])
    assert torch.equal(got, patterns.sort(dim=1).values[:, 4])


# --- the test view and the normalisation -----------------------------------------------------------


def _torchvision_view(pixels: np.ndarray) -> np.ndarray:
    from PIL import Image
    from torchvision import transforms

    return np.asarray(transforms.CenterCrop(256)(Image.fromarray(pixels)))


@pytest.mark.parametrize(
    "shape",
    [
        (256, 256),  # as is
        (300, 400),  # even excess: offsets 22, 72
        (257, 259),  # odd excess 1 and 3: round(0.5) = 0, round(1.5) = 2
        (259, 257),
        (261, 263),  # odd excess 5 and 7: round(2.5) = 2, round(3.5) = 4
        (263, 261),
        (200, 180),  # even shortfall: zeros on both sides
        (199, 201),  # odd shortfall: the extra zero row / column below / right
        (100, 333),  # one side padded, the other cropped
        (1, 1),
    ],
)
def test_ferretnet_view_equals_torchvision_center_crop(shape):
    rng = np.random.default_rng(sum(shape))
    pixels = rng.integers(1, 256, size=(*shape, 3), dtype=np.uint8)  # no zeros: padding stands out
    view = ferretnet_view(pixels)
    assert view.shape == (256, 256, 3) and view.dtype == np.uint8
    np.testing.assert_array_equal(view, _torchvision_view(pixels))


def test_ferretnet_view_offsets_by_hand():
    rows = np.arange(259, dtype=np.uint8)[:, None, None].repeat(261, axis=1).repeat(3, axis=2)
    view = ferretnet_view(rows)
    assert view[0, 0, 0] == 2  # excess 3 rows: round(1.5) = 2
    cols = np.zeros((256, 261, 3), np.uint8)
    cols[:, :, 0] = np.arange(261, dtype=np.uint8)
    assert ferretnet_view(cols)[0, 0, 0] == 2  # excess 5 columns: round(2.5) = 2
    small = np.full((253, 256, 3), 7, np.uint8)  # 3 rows short: 1 zero row above, 2 below
    padded = ferretnet_view(small)
    assert padded[:1].max() == 0 and padded[1:254].min() == 7 and padded[254:].max() == 0


def test_ferretnet_input_equals_to_tensor_and_normalize():
    from torchvision import transforms

    rng = np.random.default_rng(3)
    views = rng.integers(0, 256, size=(2, 16, 12, 3), dtype=np.uint8)
    pipeline = transforms.Compose([transforms.ToTensor(), transforms.Normalize(CLIP_MEAN, CLIP_STD)])
    expected = torch.stack([pipeline(v) for v in views]).numpy()
    got = ferretnet_input(views)
    assert got.dtype == np.float32 and got.shape == (2, 3, 16, 12)
    np.testing.assert_array_equal(got, expected)


# --- the network ---------------------------------------------------------------------------------


def test_features_and_logits_are_per_image(model):
    rng = np.random.default_rng(4)
    x = torch.from_numpy(ferretnet_input(rng.integers(0, 256, size=(3, 64, 64, 3), dtype=np.uint8)))
    with torch.no_grad():
        features = model.forward_features(x)
        logits = model(x)
        single = torch.cat([model(x[i : i + 1]) for i in range(3)])
    assert features.shape == (3, 128) and logits.shape == (3,)
    head = model.logit[1]
    torch.testing.assert_close(logits, features @ head.weight[0] + head.bias[0])
    torch.testing.assert_close(logits, single, rtol=1e-5, atol=1e-5)  # eval mode: no batch statistics


def test_importing_the_module_does_not_import_torch():
    code = (
        "import sys, negate_published.ferretnet as f\n"
        "assert 'torch' not in sys.modules\n"
        "import torch\n"
        "assert issubclass(f.FerretNet, torch.nn.Module)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_demo_images_are_separated(model):
    from sklearn.metrics import roc_auc_score

    manifest = DEMO_DIR / "manifest.csv"
    if not manifest.is_file():
        pytest.skip(f"{manifest} not on this machine")
    with manifest.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    views = np.stack([ferretnet_view(open_image(DEMO_DIR / row["path"]).pixels) for row in rows])
    with torch.no_grad():
        logits = model(torch.from_numpy(ferretnet_input(views))).numpy()
    labels = [row["label"] == "synthetic" for row in rows]
    assert len(rows) == 18 and sum(labels) == 11
    assert roc_auc_score(labels, logits) >= 0.95
