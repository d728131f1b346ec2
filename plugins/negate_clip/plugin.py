"""Registers the open_clip image-embedding extractors (lazily: listing imports no torch)."""

from __future__ import annotations

from negate_clip.specs import CLIP_MODELS
from negate_sdk import hookimpl
from negate_sdk.registry import RegisterFn

_CLASSES = {
    "clip_vit_l14": "ClipVitL14",
    "clip_vit_b32": "ClipVitB32",
    "clip_mobileclip2_s0": "MobileClip2S0",
}


@hookimpl
def negate_register_extractors(register: RegisterFn) -> None:
    """Register one extractor per model in :data:`negate_clip.specs.CLIP_MODELS`, each ``uses_clip``."""
    for name, spec in CLIP_MODELS.items():
        register(
            name,
            f"negate_clip.extractor:{_CLASSES[name]}",
            description=spec.description,
            tags=("learned", "clip"),
            requires="torch",
            uses_clip=True,
            weights=spec.weights.to_dict(),
            test_params=spec.test_params,
        )
