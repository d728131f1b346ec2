"""scikit-learn's parameter protocol for every component: ``get_params`` / ``set_params`` with nested keys.

``ParamsMixin`` also knows which parameters only change how fast results come (``runtime_params``: batch
sizes, worker counts, devices): they are kept out of cache keys and run fingerprints (:meth:`result_params`).
"""

from __future__ import annotations

import hashlib
import inspect
import json
from collections import defaultdict
from collections.abc import Mapping
from typing import Any, ClassVar


class ParamsMixin:
    """scikit-learn's parameter protocol: ``get_params`` / ``set_params`` with nested ``a__b`` keys.

    ``__init__`` must only store its keyword arguments under the same names; learned state ends in ``_``.
    A parameter holding a list of named components (each with ``name`` and ``get_params``) exposes them
    as ``param__<name>__<sub>``: ``extractors__spectral__n_bands``.

    ``runtime_params`` names the parameters that change how a result is computed (speed, memory, where),
    never the result itself; :meth:`result_params` leaves them out (cache keys, run fingerprints).
    """

    runtime_params: ClassVar[frozenset[str]] = frozenset()

    @classmethod
    def _param_names(cls) -> list[str]:
        init = cls.__init__
        if init is object.__init__:
            return []
        names = []
        for param in inspect.signature(init).parameters.values():
            if param.name == "self":
                continue
            if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
                raise TypeError(f"{cls.__name__}.__init__ must take explicit keyword parameters only")
            names.append(param.name)
        return sorted(names)

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """Constructor parameters by name; with ``deep``, nested components' as ``name__param``."""
        params: dict[str, Any] = {}
        for name in self._param_names():
            value = getattr(self, name)
            if deep and hasattr(value, "get_params") and not isinstance(value, type):
                for sub_name, sub_value in value.get_params(deep=True).items():
                    params[f"{name}__{sub_name}"] = sub_value
            elif deep:
                for component in _named_components(value):
                    for sub_name, sub_value in component.get_params(deep=True).items():
                        params[f"{name}__{component.name}__{sub_name}"] = sub_value
            params[name] = value
        return params

    def result_params(self) -> dict[str, Any]:
        """Constructor parameters (not nested) except :attr:`runtime_params`: what determines results."""
        return {k: v for k, v in self.get_params(deep=False).items() if k not in self.runtime_params}

    def set_params(self, **params: Any) -> ParamsMixin:
        """Set parameters, including nested ``component__param`` ones; return ``self``."""
        valid = self.get_params(deep=False)
        nested: dict[str, dict[str, Any]] = defaultdict(dict)
        for key, value in params.items():
            head, sep, rest = key.partition("__")
            if head not in valid:
                raise ValueError(
                    f"invalid parameter {head!r} for {type(self).__name__}; "
                    f"valid parameters: {', '.join(sorted(valid)) or '(none)'}"
                )
            if sep:
                nested[head][rest] = value
            else:
                setattr(self, head, value)
                valid[head] = value
        for head, sub_params in nested.items():
            component = valid[head]
            if hasattr(component, "set_params"):
                component.set_params(**sub_params)
                continue
            by_name = {c.name: c for c in _named_components(component)}
            if not by_name:
                raise ValueError(f"parameter {head!r} of {type(self).__name__} has no nested parameters")
            for key, value in sub_params.items():
                name, _, rest = key.partition("__")
                if name not in by_name or not rest:
                    raise ValueError(
                        f"invalid parameter '{head}__{key}'; components are: {', '.join(by_name)}"
                    )
                by_name[name].set_params(**{rest: value})
        return self

    def __repr__(self) -> str:
        defaults = {
            p.name: p.default
            for p in inspect.signature(type(self).__init__).parameters.values()
            if p.name != "self"
        }
        shown = []
        for name, value in self.get_params(deep=False).items():
            default = defaults.get(name, inspect.Parameter.empty)
            if default is inspect.Parameter.empty or not _equal(value, default):
                shown.append(f"{name}={value!r}")
        return f"{type(self).__name__}({', '.join(shown)})"


def _named_components(value: Any) -> list[Any]:
    """Elements of a list of named components (extractors, vetoes), else an empty list."""
    if not isinstance(value, (list, tuple)) or not value:
        return []
    named = all(hasattr(v, "get_params") and isinstance(getattr(v, "name", None), str) for v in value)
    return list(value) if named else []


def _equal(a: Any, b: Any) -> bool:
    try:
        return bool(a == b)
    except Exception:
        return a is b


def params_hash(params: dict[str, Any]) -> str:
    """A stable short hash of JSON-serialisable parameters (sorted keys); 16 hex characters."""
    text = json.dumps(params, sort_keys=True, default=repr, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def json_params(params: Mapping[str, Any], *, strict: bool = True, owner: str = "") -> dict[str, Any]:
    """``params`` (e.g. ``component.get_params()``) with JSON-safe values.

    ``strict`` (saved artifacts): a value JSON cannot hold is a one-line ``ValueError`` naming ``owner``.
    Otherwise (results records) such a value is kept as its ``repr``.
    """
    out = {}
    for key, value in params.items():
        try:
            json.dumps(value, allow_nan=False)
            out[key] = value
        except (TypeError, ValueError) as err:
            if strict:
                raise ValueError(
                    f"{owner or 'a component'} parameter {key!r} is not JSON-serialisable ({err}); "
                    "a saved detector stores parameters as JSON"
                ) from None
            out[key] = repr(value)
    return out
