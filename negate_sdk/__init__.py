"""negate-sdk: an SDK and benchmark harness for telling AI-generated images from real ones.

Components (extractors, classifiers, vetoes, detectors, datasets) are registered by plugins and created by
name::

    import negate_sdk

    extractor = negate_sdk.create_extractor("example_colour_moments")
    X = extractor.transform([negate_sdk.Sample.from_path("photo.jpg")])   # (1, n_features) float32
    negate_sdk.list_detectors("clip_*")
    detector = negate_sdk.Detector(extractors=["spectral"], classifier="logistic")  # a composite detector

Importing this package never imports torch.
"""

from negate_sdk.api import (
    REAL,
    SYNTHETIC,
    BaseExtractor,
    BaseVeto,
    Classifier,
    DetectorProtocol,
    Extractor,
    Label,
    ParamsMixin,
    Sample,
    Thresholds,
    Verdict,
    Veto,
    VetoDecision,
    VetoEffect,
    WeightsCfg,
)
from negate_sdk.catalog import (
    create_classifier,
    create_dataset,
    create_detector,
    create_extractor,
    create_veto,
    get_classifier,
    get_dataset,
    get_detector,
    get_extractor,
    get_registry,
    get_veto,
    is_classifier,
    is_dataset,
    is_detector,
    is_extractor,
    is_veto,
    list_classifiers,
    list_datasets,
    list_detectors,
    list_extractors,
    list_vetoes,
)
from negate_sdk.detectors import BaseDetector, Detector, TrainableDetector, load_detector
from negate_sdk.hookspecs import hookimpl
from negate_sdk.imaging import ImageError
from negate_sdk.registry import Entry, MissingDependencyError, Registry, RegistryError, UnknownNameError
from negate_sdk.version import __version__

__all__ = [
    "REAL",
    "SYNTHETIC",
    "BaseDetector",
    "BaseExtractor",
    "BaseVeto",
    "Classifier",
    "Detector",
    "DetectorProtocol",
    "Entry",
    "Extractor",
    "ImageError",
    "Label",
    "MissingDependencyError",
    "ParamsMixin",
    "Registry",
    "RegistryError",
    "Sample",
    "Thresholds",
    "TrainableDetector",
    "UnknownNameError",
    "Verdict",
    "Veto",
    "VetoDecision",
    "VetoEffect",
    "WeightsCfg",
    "__version__",
    "create_classifier",
    "create_dataset",
    "create_detector",
    "create_extractor",
    "create_veto",
    "get_classifier",
    "get_dataset",
    "get_detector",
    "get_extractor",
    "get_registry",
    "get_veto",
    "hookimpl",
    "is_classifier",
    "is_dataset",
    "is_detector",
    "is_extractor",
    "is_veto",
    "list_classifiers",
    "list_datasets",
    "list_detectors",
    "list_extractors",
    "list_vetoes",
    "load_detector",
]
