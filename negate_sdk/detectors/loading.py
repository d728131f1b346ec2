"""Loading a saved detector of any family from its folder, the class found by registry name.

The card (``detector.json``) is verified first (:func:`negate_sdk.artifacts.read_card`): every listed file
present, regular, inside the folder and matching its sha256, nothing unlisted. A composite card is rebuilt
from its components' registry names; any other card by the ``load`` of the detector registered under its
name. No path written in the card is ever imported.
"""

from __future__ import annotations

import os
from typing import Any

from negate_sdk.artifacts import ArtifactError, read_card
from negate_sdk.detectors.composite import Detector
from negate_sdk.registry import RegistryError


def load_detector(directory: str | os.PathLike[str]) -> Any:
    """The detector saved in ``directory`` by ``save``; a one-line :class:`ArtifactError` otherwise."""
    from negate_sdk.catalog import get_detector

    card = read_card(directory)
    family = card.get("family") or ("composite" if card.get("composite") else None)
    try:
        if family == "composite":
            return Detector.load(directory)
        name = card.get("detector")
        if not isinstance(name, str):
            raise ArtifactError(f"{directory}: the card does not name its detector")
        factory = get_detector(name).load()
    except RegistryError as err:
        raise ArtifactError(f"{directory}: cannot load detector '{card.get('detector')}': {err}") from None
    loader = getattr(factory, "load", None)
    if loader is None:
        raise ArtifactError(f"{directory}: detector '{name}' has no loader (its factory has no 'load')")
    return loader(directory)
