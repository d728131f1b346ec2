"""FerretNet-S (NeurIPS 2025) as its authors run it: the test view, the normalisation, the checkpoint loader.

"FerretNet: efficient synthetic image detection via local pixel dependencies", code and weights at
xigua7105/FerretNet (Apache-2.0). The network sees an image's local-pixel-dependency residual ``x - m(x)``,
``m`` a masked 3×3 median (:func:`median_residual`); its test transform is ``CenterCrop(256)`` without
resizing (smaller images padded with zeros by the crop), ``ToTensor`` and the CLIP mean/std.

Importing this module does not import torch: :func:`median_residual`, :func:`load_ferretnet` and the
``FerretNet`` class (an attribute resolved on first access) load :mod:`negate_published.ferretnet_net`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from negate_sdk.artifacts import ArtifactError
from negate_sdk.runtime.views import center_crop_pad
from negate_sdk.runtime.weights import WeightsCfg
from negate_sdk.safetext import path_text, printable

if TYPE_CHECKING:
    import torch

    from negate_published.ferretnet_net import FerretNet

__all__ = [
    "CLIP_MEAN",
    "CLIP_STD",
    "CROP_SIZE",
    "FERRETNET_S_WEIGHTS",
    "STATE_DICT_VALUES",
    "FerretNet",
    "ferretnet_input",
    "ferretnet_view",
    "load_ferretnet",
    "median_residual",
]

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
CROP_SIZE = 256
# Every value of the published state dict: parameters, BN running statistics and 12 BN batch counters.
STATE_DICT_VALUES = 128_317

_REPO, _COMMIT = "xigua7105/FerretNet", "e92796c1a2fb07ccc57ecd7e718e6dce067be5fa"
_PATH = "checkpoints/4cls_ckpt/ferretnet-s-median-3.pth"
FERRETNET_S_WEIGHTS = WeightsCfg(
    name="ferretnet_s",
    url=f"https://github.com/{_REPO}/raw/{_COMMIT}/{_PATH}",
    filename="ferretnet-s-median-3.pth",
    sha256="5604ab1ade78dc615181b7d014242bf26f7bc5e2bc82351e6e8d42ce5f28f485",
    input_size=(3, CROP_SIZE, CROP_SIZE),
    mean=CLIP_MEAN,
    std=CLIP_STD,
    licence="Apache-2.0",
    # CNNDetection's ProGAN training set (classes car, cat, chair, horse), and the generator-table id
    trained_on=("progan-4cls", "progan"),
    source=f"{_REPO} @ {_COMMIT} : {_PATH}",
    citation="FerretNet: efficient synthetic image detection via local pixel dependencies, NeurIPS 2025",
)


def ferretnet_view(pixels: np.ndarray, size: int = CROP_SIZE) -> np.ndarray:
    """The authors' test view: torchvision's ``CenterCrop(size)`` without resizing, in numpy.

    ``pixels``: ``(h, w, 3)`` uint8 RGB; returns ``(size, size, 3)`` uint8. A side longer than ``size``
    is cropped from offset ``int(round((side - size) / 2.0))`` (Python's rounding: half to even); a
    shorter side is first padded with zeros, ``(size - side) // 2`` before and the rest after, so the
    extra pixel of an odd difference goes right or below, as torchvision pads.
    """
    pixels = np.asarray(pixels)
    if pixels.ndim != 3 or pixels.shape[2] != 3 or pixels.dtype != np.uint8:
        raise ValueError(f"ferretnet_view expects (h, w, 3) uint8, got {pixels.shape} {pixels.dtype}")
    return center_crop_pad(pixels, size)


def ferretnet_input(views: np.ndarray) -> np.ndarray:
    """``ToTensor`` then ``Normalize(CLIP_MEAN, CLIP_STD)``, in numpy with torch's float32 arithmetic.

    ``views``: ``(n, h, w, 3)`` (or one ``(h, w, 3)``) uint8; returns ``(n, 3, h, w)`` float32 equal, bit
    for bit, to torchvision's transforms on the same pixels.
    """
    views = np.asarray(views)
    if views.ndim == 3:
        views = views[None]
    if views.ndim != 4 or views.shape[3] != 3 or views.dtype != np.uint8:
        raise ValueError(f"ferretnet_input expects (n, h, w, 3) uint8, got {views.shape} {views.dtype}")
    scaled = views.transpose(0, 3, 1, 2).astype(np.float32) / np.float32(255)
    mean = np.asarray(CLIP_MEAN, np.float32)[:, None, None]
    std = np.asarray(CLIP_STD, np.float32)[:, None, None]
    return np.ascontiguousarray((scaled - mean) / std)


def median_residual(x: torch.Tensor, window_size: int = 3) -> torch.Tensor:
    """``x - m(x)``, ``m`` the masked median of each zero-padded window with its centre set to 0.

    ``x``: ``(n, c, h, w)`` float tensor; returns the same shape. See
    :func:`negate_published.ferretnet_net.median_residual`.
    """
    from negate_published.ferretnet_net import median_residual as residual

    return residual(x, window_size)


def __getattr__(name: str) -> Any:
    # The torch class is imported on first access, so importing this module stays free of torch.
    if name == "FerretNet":
        from negate_published.ferretnet_net import FerretNet

        return FerretNet
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _listed(keys: list[str]) -> str:
    more = f" and {len(keys) - 1} more" if len(keys) > 1 else ""
    return f"{printable(keys[0], 120)!r}{more}"


def load_ferretnet(path: str | os.PathLike[str], device: str | torch.device = "cpu") -> FerretNet:
    """FerretNet-S with the weights of ``path`` (the authors' ``{"model": state_dict}``), in eval mode.

    The file is read with ``torch.load(..., weights_only=True)`` and loaded strictly: every tensor the
    network has, no other, each of the same shape, all finite. Anything else raises a one-line
    :class:`~negate_sdk.artifacts.ArtifactError` naming the file. The model maps ``(n, 3, h, w)``
    normalised images to ``(n,)`` logits.
    """
    import torch

    from negate_published.ferretnet_net import FerretNet

    name = path_text(path, 200)
    if not Path(path).is_file():
        raise ArtifactError(f"{name}: no FerretNet checkpoint file there")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises several types; the first line of any is the reason
        reason = printable(str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__, 200)
        raise ArtifactError(f"{name}: not a weights-only torch checkpoint ({reason})") from None
    state = checkpoint.get("model", checkpoint) if isinstance(checkpoint, dict) else checkpoint
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ArtifactError(f"{name}: not a FerretNet checkpoint (expected {{'model': state_dict}})")
    model = FerretNet()
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [str(k) for k in state if k not in expected]
    if missing or unexpected:
        parts = ([f"missing {_listed(missing)}"] if missing else []) + (
            [f"unexpected {_listed(unexpected)}"] if unexpected else []
        )
        raise ArtifactError(f"{name}: not a FerretNet-S checkpoint: {'; '.join(parts)}")
    for key, tensor in expected.items():
        if tuple(state[key].shape) != tuple(tensor.shape):
            raise ArtifactError(
                f"{name}: not a FerretNet-S checkpoint: {key} has shape {tuple(state[key].shape)}, "
                f"the network expects {tuple(tensor.shape)}"
            )
        if state[key].is_floating_point() and not bool(torch.isfinite(state[key]).all()):
            raise ArtifactError(f"{name}: tensor {key} holds NaN or infinite values")
    try:
        model.load_state_dict(state, strict=True)
    except (RuntimeError, TypeError) as err:  # a dtype torch cannot copy, say
        reason = printable(str(err).strip().splitlines()[0], 200)
        raise ArtifactError(f"{name}: FerretNet-S refused the weights ({reason})") from None
    return model.eval().to(device)
