"""Registers the published detectors and FerretNet-S's features (lazily: listing imports no torch)."""

from __future__ import annotations

from negate_published.ferretnet import FERRETNET_S_WEIGHTS
from negate_published.univfd import UNIVFD_WEIGHTS
from negate_sdk import hookimpl
from negate_sdk.registry import RegisterFn

# Offline configurations for the conformance suite: seeded random networks and heads of the real shapes
# (FerretNet-S); UniversalFakeDetect on the CLIP extractor's own registered tiny configuration.


def _weights_metadata(cfg) -> dict:
    return {
        "licence": cfg.licence,
        "trained_on": list(cfg.trained_on),
        "source": cfg.source,
        "citation": cfg.citation,
        "weights": cfg.to_dict(),
    }


@hookimpl
def negate_register_extractors(register: RegisterFn) -> None:
    """Register ``ferretnet_s_features``: FerretNet-S's pooled features and logit."""
    register(
        "ferretnet_s_features",
        "negate_published.ferretnet_detector:FerretNetFeatures",
        description="FerretNet-S pooled penultimate features (128) and logit, authors' weights (Apache-2.0)",
        tags=("learned", "forensic", "published"),
        requires="torch",
        uses_clip=False,
        test_params={"pretrained": False, "device": "cpu"},
        **_weights_metadata(FERRETNET_S_WEIGHTS),
    )


@hookimpl
def negate_register_detectors(register: RegisterFn) -> None:
    """Register ``ferretnet_s`` and ``univfd``, scored with their authors' weights and no training."""
    register(
        "ferretnet_s",
        "negate_published.ferretnet_detector:FerretNetS",
        description="FerretNet-S (NeurIPS 2025), authors' weights, trained on ProGAN; needs no training",
        tags=("pretrained", "published"),
        requires="torch",
        pretrained=True,
        uses_clip=False,
        test_params={"weights": "random", "device": "cpu"},
        **_weights_metadata(FERRETNET_S_WEIGHTS),
    )
    register(
        "univfd",
        "negate_published.univfd:UniversalFakeDetect",
        description="UniversalFakeDetect (CVPR 2023): CLIP ViT-L/14 + authors' head, trained on ProGAN",
        tags=("pretrained", "published", "clip"),
        requires="torch",
        pretrained=True,
        uses_clip=True,
        test_params={
            "weights": "random",
            "extractor_params": "test",
            "device": "cpu",
        },
        **_weights_metadata(UNIVFD_WEIGHTS),
    )
