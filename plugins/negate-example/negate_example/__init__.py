"""An example third-party negate plugin: one extractor and one detector, registered by hooks.

Everything a plugin needs is here: hook implementations marked with ``negate_sdk.hookimpl``, components
that follow the contracts in ``negate_sdk.api``, and an entry point in the ``negate`` group
(see ``pyproject.toml``).
"""

from __future__ import annotations

from negate_sdk import hookimpl

__version__ = "0.2.0"


@hookimpl
def negate_register_extractors(register):
    """Register the colour-moments extractor (lazily, by ``module:attr``)."""
    register(
        "example_colour_moments",
        "negate_example.components:ColourMoments",
        description="Mean and standard deviation of each RGB channel (example plugin)",
        tags=("example",),
    )


@hookimpl
def negate_register_detectors(register):
    """Register a detector built on that extractor."""
    register(
        "example_colour_logistic",
        "negate_example.components:ColourLogisticDetector",
        description="Colour moments -> logistic regression (example plugin)",
        tags=("example",),
    )
