"""Registers the trainable detectors through ``negate_register_detectors`` (lazily: no torch to list them)."""

from __future__ import annotations

from negate_sdk import hookimpl
from negate_sdk.registry import RegisterFn

# Fast offline configurations for the conformance suite: the real code paths, tiny sizes and one or two
# epochs (SupCon on a randomly initialised EfficientNet-Lite0, so no weights are read).
SATURATE_TEST_PARAMS = {"image_size": 16, "epochs": 2, "batch_size": 4, "verbose": False, "device": "cpu"}
SUPCON_TEST_PARAMS = {
    "backbone_params": {"pretrained": False},
    "image_size": 32,
    "epochs": 1,
    "batch_size": 4,
    "verbose": False,
    "device": "cpu",
}


@hookimpl
def negate_register_detectors(register: RegisterFn) -> None:
    """Register ``saturate_cnn`` and ``supcon``."""
    register(
        "saturate_cnn",
        "negate_trainable.saturate:SaturateCNN",
        description="Compact CNN trained end to end on the inverted/saturated view (or RGB, or both)",
        tags=("trainable", "cnn"),
        requires="torch",
        uses_clip=False,
        test_params=SATURATE_TEST_PARAMS,
    )
    register(
        "supcon",
        "negate_trainable.supcon:SupConDetector",
        description="Backbone fine-tuned with supervised contrastive loss, then a logistic head "
        "(EfficientNet-Lite0 offline weights by default)",
        tags=("trainable", "learned"),
        requires="torch",
        uses_clip=False,
        test_params=SUPCON_TEST_PARAMS,
    )
