"""Registers the vetoes through ``negate_register_vetoes`` (lazily)."""

from __future__ import annotations

from negate_sdk import hookimpl


@hookimpl
def negate_register_vetoes(register):
    """Register ``provenance`` (raises on metadata evidence) and ``illustration`` (downgrades)."""
    register(
        "provenance",
        "negate_vetoes.provenance:ProvenanceVeto",
        description="Raise to SYNTHETIC on C2PA, IPTC source type, generation parameters or generator name",
        tags=("veto", "metadata"),
        effect="raise",
    )
    register(
        "illustration",
        "negate_vetoes.illustration:IllustrationVeto",
        description="Downgrade SYNTHETIC to UNCERTAIN for human illustration / anime art "
        "(EfficientNet-Lite0, last stage fine-tuned; train with 'negate train-veto')",
        tags=("veto", "learned"),
        effect="downgrade",
        requires="torch",
        # a seeded random network: exercises the real code path without trained weights
        test_params={"weights": "random", "image_size": 32, "device": "cpu"},
    )
