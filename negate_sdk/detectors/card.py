"""The detector card's schema, checked before anything in the card is used.

A card comes from whoever wrote the folder, so every field the loaders read is checked for type and range
first: a malformed card is one :class:`~negate_sdk.artifacts.ArtifactError` line saying which field is
wrong and in which file, never a ``KeyError``, ``TypeError`` or a NaN threshold. The family-specific
entries (a composite's extractors and head, a network's weights) are checked by :func:`check_family`.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from negate_sdk.artifacts import CARD_NAME, ArtifactError, is_plain_name
from negate_sdk.weightfiles.states import check_calibrator_state


class CardError(ArtifactError):
    """A field of a detector card is missing or wrong; ``str(err)`` names the file and the field."""


def _fail(directory: Path, field: str, what: str, value: Any = None) -> CardError:
    shown = "" if value is None else f", got {_short(value)}"
    return CardError(f"{Path(directory) / CARD_NAME}: '{field}' {what}{shown}")


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _require(card: dict[str, Any], directory: Path, field: str, kind: type | tuple[type, ...]) -> Any:
    """``card[field]``, which must exist and be of ``kind`` (dotted fields name nested ones in errors)."""
    value = card.get(field.rpartition(".")[2]) if isinstance(card, dict) else None
    if value is None or not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        kinds = kind if isinstance(kind, tuple) else (kind,)
        names = " or ".join(JSON_TYPES.get(k, k.__name__) for k in kinds)
        raise _fail(directory, field, f"must be {names}", value)
    return value


JSON_TYPES = {dict: "an object", list: "a list", str: "a string", int: "an integer", float: "a number"}


def check_card(card: dict[str, Any], directory: str | Path) -> None:
    """Check the fields every family's card has; raise :class:`CardError` on the first wrong one."""
    directory = Path(directory)
    _require(card, directory, "detector", str)
    _require(card, directory, "params", dict)
    check_calibrator_state(_require(card, directory, "calibrator", dict), f"{directory / CARD_NAME}")
    thresholds = _require(card, directory, "thresholds", dict)
    values = {}
    for key in ("t_genuine", "t_synthetic", "t_decision"):
        value = thresholds.get(key)
        if not _is_number(value) or not 0.0 <= value <= 1.0:
            raise _fail(directory, f"thresholds.{key}", "must be a number in [0, 1]", value)
        values[key] = value
    if set(thresholds) - set(values):
        raise _fail(directory, "thresholds", "has unknown keys", sorted(set(thresholds) - set(values)))
    if values["t_genuine"] > values["t_synthetic"]:
        raise _fail(directory, "thresholds", "must have t_genuine <= t_synthetic", thresholds)
    for i, veto in enumerate(card.get("vetoes", [])):
        if not isinstance(veto, dict):
            raise _fail(directory, f"vetoes[{i}]", "must be an object", veto)
        _require(veto, directory, f"vetoes[{i}].name", str)
        _require(veto, directory, f"vetoes[{i}].params", dict)
    if not isinstance(card.get("vetoes", []), list):
        raise _fail(directory, "vetoes", "must be a list", card.get("vetoes"))
    trained_on = card.get("trained_on", [])
    if not isinstance(trained_on, list) or not all(isinstance(t, str) for t in trained_on):
        raise _fail(directory, "trained_on", "must be a list of dataset names", trained_on)
    for field in ("training", "validation_metrics"):
        if not isinstance(card.get(field, {}), dict):
            raise _fail(directory, field, "must be an object", card.get(field))


def check_family(card: dict[str, Any], directory: str | Path) -> None:
    """Check the entries of the card's family: a composite's components, a network's weights file."""
    directory = Path(directory)
    family = card.get("family") or ("composite" if card.get("composite") else None)
    if family == "composite":
        extractors = _require(card, directory, "extractors", list)
        if not extractors:
            raise _fail(directory, "extractors", "must name at least one extractor")
        for i, spec in enumerate(extractors):
            if not isinstance(spec, dict):
                raise _fail(directory, f"extractors[{i}]", "must be an object", spec)
            for key, kind in (("name", str), ("version", str), ("params", dict)):
                _require(spec, directory, f"extractors[{i}].{key}", kind)
        head = _require(card, directory, "classifier", dict)
        if head.get("name") is None:
            if not is_plain_name(head.get("skops")):
                raise _fail(
                    directory, "classifier.skops", "must be a file name in the folder", head.get("skops")
                )
        else:
            _require(head, directory, "classifier.name", str)
            _require(head, directory, "classifier.state", dict)
        names = _require(card, directory, "feature_names", list)
        if not names or not all(isinstance(n, str) for n in names):
            raise _fail(directory, "feature_names", "must be a non-empty list of names")
    elif family == "trainable":
        if not is_plain_name(card.get("weights")):
            raise _fail(directory, "weights", "must be a file name in the folder", card.get("weights"))
        _require(card, directory, "model", dict)
        if not isinstance(card.get("model_format"), int):
            raise _fail(directory, "model_format", "must be an integer", card.get("model_format"))
