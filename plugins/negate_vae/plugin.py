"""Registers the autoencoder reconstruction-error extractors (lazily: listing imports no torch)."""

from __future__ import annotations

from negate_sdk import hookimpl
from negate_sdk.registry import RegisterFn
from negate_vae.specs import VAES

_CLASSES = {"vae_sd": "VaeSd", "vae_sdxl": "VaeSdxl", "vae_flux": "VaeFlux", "vae_dc": "VaeDc"}


@hookimpl
def negate_register_extractors(register: RegisterFn) -> None:
    """Register one extractor per autoencoder in :data:`negate_vae.specs.VAES`."""
    for name, spec in VAES.items():
        register(
            name,
            f"negate_vae.extractor:{_CLASSES[name]}",
            description=spec.description,
            tags=("learned", "vae"),
            requires="torch",
            uses_clip=False,
            weights=spec.weights.to_dict(),
            test_params=spec.test_params,
        )
