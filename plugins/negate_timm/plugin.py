"""Registers the timm backbone extractors through the negate hooks (lazily: listing imports no torch)."""

from __future__ import annotations

from negate_sdk import hookimpl
from negate_sdk.registry import RegisterFn
from negate_timm.specs import BACKBONES, PREFERENCE

_CLASSES = {
    "timm_convnext_tiny_in22k": "ConvNextTinyIn22k",
    "timm_dinov2_vits14": "DinoV2Small",
    "timm_dinov2_vitb14": "DinoV2Base",
    "timm_efficientnet_lite0": "EfficientNetLite0",
}


@hookimpl
def negate_register_extractors(register: RegisterFn) -> None:
    """Register one extractor per backbone in :data:`negate_timm.specs.BACKBONES`."""
    for name, spec in BACKBONES.items():
        register(
            name,
            f"negate_timm.backbones:{_CLASSES[name]}",
            description=spec.description,
            tags=("learned", "timm"),
            requires="torch",
            uses_clip=False,
            weights=spec.weights.to_dict(),
            test_params=spec.test_params,
            # recipes pick the best-ranked backbone whose weights are on this machine (0 = best)
            backbone_rank=PREFERENCE.index(name),
        )
    lite0 = BACKBONES["timm_efficientnet_lite0"]
    register(
        "timm_efficientnet_lite0_stages",
        "negate_timm.backbones:EfficientNetLite0Stages",
        description="EfficientNet-Lite0 stages 1-2, channel means and stds (128) at native resolution: "
        "low-level traces that transfer to unseen generators better than the final embedding",
        tags=("learned", "timm", "forensic"),
        requires="torch",
        uses_clip=False,
        weights=lite0.weights.to_dict(),
        test_params={**lite0.test_params, "image_size": 64},
    )
