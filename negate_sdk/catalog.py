"""The catalog: the ``create_*``, ``list_*``, ``get_*`` and ``is_*`` verbs over the registered components.

Each verb reads the registry of one kind (:func:`get_registry`) in the process-wide plugin host, loading
the plugins on first use. The twenty verbs are made from four templates, one set per kind::

    create_extractor("spectral")          # the component, with keyword parameters
    list_detectors("clip_*")              # names, filtered by negate_sdk.registry.matches
    get_classifier("lightgbm")            # the registry Entry (factory, plugin, metadata), nothing created
    is_dataset("dev-faces")               # True when registered
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from negate_sdk.plugins import get_host
from negate_sdk.registry import PLURALS, Entry, Registry

Filter = str | Iterable[str] | None


def get_registry(kind: str) -> Registry:
    """The registry of ``kind`` (extractor, classifier, veto, detector, dataset) in the current host."""
    return get_host().registry(kind)


def _verbs(kind: str, what: str) -> tuple[Callable[..., Any], ...]:
    """``create_``, ``list_``, ``get_`` and ``is_`` functions of one kind, with their docstrings."""

    def create(name: str, **params: Any) -> Any:
        return get_registry(kind).create(name, **params)

    def names(filter: Filter = None, *, exclude: Filter = None) -> list[str]:
        return get_registry(kind).names(filter, exclude=exclude)

    def get(name: str) -> Entry:
        return get_registry(kind).get(name)

    def exists(name: str) -> bool:
        return name in get_registry(kind)

    plural = PLURALS[kind]
    create.__doc__ = f"Create the {what} registered as ``name`` with keyword ``params``."
    names.__doc__ = f"Names of registered {plural} matching ``filter`` (see ``registry.matches``), sorted."
    get.__doc__ = f"The registry entry of {kind} ``name`` (factory, plugin, metadata), without creating it."
    exists.__doc__ = f"True when a {kind} is registered as ``name``."
    for function, verb in ((create, "create"), (names, "list"), (get, "get"), (exists, "is")):
        function.__name__ = function.__qualname__ = f"{verb}_{plural if verb == 'list' else kind}"
        function.__module__ = __name__
    return create, names, get, exists


create_extractor, list_extractors, get_extractor, is_extractor = _verbs(
    "extractor", "extractor (its ``transform`` gives ``(n_samples, n_features)`` float32)"
)
create_classifier, list_classifiers, get_classifier, is_classifier = _verbs(
    "classifier", "classifier head (a scikit-learn binary classifier)"
)
create_veto, list_vetoes, get_veto, is_veto = _verbs("veto", "veto")
create_detector, list_detectors, get_detector, is_detector = _verbs("detector", "(unfitted) detector")
create_dataset, list_datasets, get_dataset, is_dataset = _verbs("dataset", "dataset (its manifest)")
