"""Registers the vetoes through ``negate_register_vetoes`` (lazily)."""

from __future__ import annotations

from negate_sdk import hookimpl


@hookimpl
def negate_register_vetoes(register):
    """Register ``provenance`` (raises on metadata evidence)."""
    register(
        "provenance",
        "negate_vetoes.provenance:ProvenanceVeto",
        description="Raise to SYNTHETIC on C2PA, IPTC source type, generation parameters or generator name",
        tags=("veto", "metadata"),
        effect="raise",
    )
