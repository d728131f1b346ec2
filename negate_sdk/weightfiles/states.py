"""JSON state kept in detector cards, checked before it is used: calibrators."""

from __future__ import annotations

from typing import Any

import numpy as np

from negate_sdk.weightfiles.files import ArtifactError, float_array

MAX_KNOTS = 10_000_000
_KEYS = {"none": {"method"}, "sigmoid": {"method", "a", "b"}, "isotonic": {"method", "x", "y"}}


def check_calibrator_state(state: Any, where: str) -> dict[str, Any]:
    """Check a calibrator's state (``to_dict`` of :mod:`negate_sdk.calibration`) and return it unchanged.

    ``method`` is ``none``, ``sigmoid`` (finite ``a`` and ``b``) or ``isotonic`` (knots ``x`` non-decreasing
    and ``y`` in [0, 1], equally many, finite); no other keys. Raises :class:`ArtifactError` naming ``where``.
    """
    if not isinstance(state, dict) or state.get("method") not in _KEYS:
        method = state.get("method") if isinstance(state, dict) else None
        raise ArtifactError(f"{where}: unknown calibration method {str(method)[:30]!r}")
    method = state["method"]
    if set(state) != _KEYS[method]:
        raise ArtifactError(f"{where}: {method} calibrator needs exactly {', '.join(sorted(_KEYS[method]))}")
    if method == "sigmoid":
        float_array([state["a"], state["b"]], f"{where}: sigmoid calibrator a, b", (2,))
    elif method == "isotonic":
        x, y = state["x"], state["y"]
        n = len(x) if isinstance(x, list) else -1
        if not 1 <= n <= MAX_KNOTS:
            raise ArtifactError(f"{where}: isotonic calibrator needs between 1 and {MAX_KNOTS} knots")
        knots = float_array(x, f"{where}: isotonic calibrator x", (n,))
        values = float_array(y, f"{where}: isotonic calibrator y", (n,))
        if np.any(np.diff(knots) < 0) or np.any((values < 0) | (values > 1)):
            raise ArtifactError(
                f"{where}: isotonic calibrator knots are not increasing or values not in [0, 1]"
            )
    return state
