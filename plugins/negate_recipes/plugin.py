"""Registers the named detectors (recipes) through the ``negate_register_detectors`` hook."""

from __future__ import annotations

from negate_sdk import hookimpl
from negate_sdk.registry import RegisterFn


@hookimpl
def negate_register_detectors(register: RegisterFn) -> None:
    """Register the built-in recipes (lazily: nothing heavy is imported to list them)."""
    register(
        "dummy",
        "negate_recipes.dummy:DummyDetector",
        description="Chance baseline: seeded random scores from each image's hash (also a test double)",
        tags=("baseline",),
    )
