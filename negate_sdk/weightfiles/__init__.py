"""Checks that run before a weight file reaches a native loader; every refusal is one ``ArtifactError`` line.

A detector card lists each weight file with its sha256, but whoever wrote a hostile folder wrote the card
too: a matching hash proves nothing about whether the file is well formed. LightGBM, XGBoost, safetensors
and scikit-learn's Cython trees trust their input (a truncated LightGBM model aborts the process, a damaged
XGBoost file crashes it or exhausts memory), so each format is parsed and checked here, in Python, first:

- :func:`artifact_path`: a file name from a card or a head's state is a plain name of a regular file in
  the detector folder (no path separators, ``..``, NUL, symlinks, FIFOs or devices).
- :func:`read_bytes`, :func:`read_json`, :func:`float_array`: bounded reads, strict JSON (no NaN or
  Infinity, no duplicate keys, bounded depth), finite arrays of an exact shape.
- :func:`check_safetensors`, :func:`read_safetensors` (numpy, no torch), :func:`load_safetensors_torch`.
- :func:`check_lightgbm_model` for LightGBM's model text, :func:`check_xgboost_model` for XGBoost's UBJSON.
- :func:`check_calibrator_state` for a calibrator's JSON state.

None of this imports torch, LightGBM or XGBoost.
"""

from negate_sdk.weightfiles.files import (
    DEFAULT_MAX_BYTES,
    artifact_path,
    float_array,
    read_bytes,
    read_json,
    read_text,
)
from negate_sdk.weightfiles.lightgbm_text import LightGBMModelInfo, check_lightgbm_model
from negate_sdk.weightfiles.safetensors_file import (
    TensorEntry,
    check_safetensors,
    load_safetensors_torch,
    read_safetensors,
)
from negate_sdk.weightfiles.states import check_calibrator_state
from negate_sdk.weightfiles.xgboost_ubj import XGBoostModelInfo, check_xgboost_model, parse_ubjson

__all__ = [
    "DEFAULT_MAX_BYTES",
    "LightGBMModelInfo",
    "TensorEntry",
    "XGBoostModelInfo",
    "artifact_path",
    "check_calibrator_state",
    "check_lightgbm_model",
    "check_safetensors",
    "check_xgboost_model",
    "float_array",
    "load_safetensors_torch",
    "parse_ubjson",
    "read_bytes",
    "read_json",
    "read_safetensors",
    "read_text",
]
