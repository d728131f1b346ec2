"""What a run is made of: its configuration, and the detectors it builds from registry names, ad-hoc
compositions and saved folders, seeded and with ``--param`` / ``--device`` applied.

Detectors are chosen by the registry's one name rule (:func:`negate_sdk.registry.matches`) and asked what
they can do, never what class they are.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class RunConfig:
    """Everything that defines a run (recorded in the results for reproduction)."""

    datasets: list[str]
    detectors: list[str] = field(default_factory=list)
    extractors: list[str] | None = None
    head: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    model_dirs: list[str] = field(default_factory=list)
    protocol: str = "train-test"
    cutoff: str | None = None  # the temporal protocol's release date (YYYY-MM-DD)
    train_on: str | None = None
    train_split: str | None = None
    data_dir: str | None = None
    limit: int | None = None
    per_generator: int | None = None
    test_fraction: float = 0.5
    perturb: list[str] = field(default_factory=list)
    seed: int = 0
    device: str | None = None
    n_boot: int = 1000
    n_jobs: int = 1
    chunk_size: int = 128
    cache_dir: str | None = None
    use_cache: bool = True
    refit: bool = False
    executor: str = "local"
    ray_address: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe view."""
        return asdict(self)


@dataclass
class DetectorSpec:
    """How to build one detector of the run; ``trainable`` is False for a saved detector (scored as is)."""

    name: str
    build: Callable[[], Any]
    uses_clip: bool = False
    trainable: bool = True


def detector_names(patterns: list[str]) -> list[str]:
    """Registered detector names selected by ``patterns`` (in order, without repeats).

    A pattern that selects nothing is an error suggesting the closest names.
    """
    from negate_sdk.catalog import get_registry
    from negate_sdk.registry import matches, unknown_name_message

    registry = get_registry("detector")
    names: list[str] = []
    for pattern in patterns:
        found = matches(registry.names(), pattern)
        if not found:
            raise ValueError(unknown_name_message("detector", pattern, registry.names()))
        names += found
    return list(dict.fromkeys(names))


def detector_specs(config: RunConfig) -> list[DetectorSpec]:
    """The detectors of a run: registry names and patterns, an ad-hoc composition, saved models."""
    from negate_sdk.catalog import create_classifier, create_detector, get_detector
    from negate_sdk.detectors import Detector, load_detector

    specs = [
        DetectorSpec(
            name, lambda name=name: create_detector(name), bool(get_detector(name).metadata.get("uses_clip"))
        )
        for name in detector_names(config.detectors)
    ]
    if config.extractors:
        head = config.head or "logistic"
        name = f"{'+'.join(config.extractors)}/{head}"

        def build_adhoc() -> Detector:
            return Detector(extractors=list(config.extractors), classifier=create_classifier(head), name=name)

        specs.append(DetectorSpec(name, build_adhoc))
    for model_dir in config.model_dirs:
        specs.append(
            DetectorSpec(
                f"model:{Path(model_dir).name}", lambda d=model_dir: load_detector(d), trainable=False
            )
        )
    if not specs:
        raise ValueError("nothing to run: give --detector, --extractors or --model")
    return specs


def seed_detector(detector: Any, seed: int) -> None:
    """Set every ``random_state`` (nested ones too: heads, ensemble members) and a ``seed`` to ``seed``."""
    keys = [
        k
        for k in detector.get_params(deep=True)
        if k in ("random_state", "seed") or k.endswith("__random_state")
    ]
    # shallow keys first: setting a component's own parameter must not undo its parent's
    for key in sorted(keys, key=lambda k: k.count("__")):
        detector.set_params(**{key: seed})


def apply_params(
    detectors: dict[str, Any], params: dict[str, Any], device: str | None, seed: int | None = None
) -> None:
    """Apply the run's ``seed``, then ``--param`` values (``name:key=value`` targets one detector), then
    ``--device`` to the detectors and the extractors they compute features with.

    A key no detector accepts is an error; a key some detectors lack is applied where it fits.
    """
    if seed is not None:
        for detector in detectors.values():
            seed_detector(detector, seed)
    for key, value in params.items():
        target, _, param = key.rpartition(":")
        chosen = {n: d for n, d in detectors.items() if not target or n == target}
        if target and not chosen:
            raise ValueError(f"--param {key}: no detector named '{target}' in this run")
        applied = 0
        for detector in chosen.values():
            try:
                detector.set_params(**{param: value})
                applied += 1
            except ValueError:
                continue
        if not applied:
            raise ValueError(f"--param {key}: no detector in this run has a parameter '{param}'")
    if device:
        for detector in detectors.values():
            for component in (detector, *detector.feature_extractors()):
                if "device" in component.get_params(deep=False):
                    component.set_params(device=device)
