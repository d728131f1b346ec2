"""negate-sdk: an SDK and benchmark harness for telling AI-generated images from real ones.

Components (extractors, classifiers, vetoes, detectors, datasets) are registered by plugins and created by
name::

    import negate_sdk

    extractor = negate_sdk.create_extractor("example_colour_moments")
    X = extractor.transform([negate_sdk.Sample.from_path("photo.jpg")])   # (1, n_features) float32
    negate_sdk.list_detectors("clip_*")

Importing this package never imports torch.
"""

from importlib.metadata import PackageNotFoundError, version

from negate_sdk.api import (
    REAL,
    SYNTHETIC,
    BaseExtractor,
    BaseVeto,
    Classifier,
    Detector,
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
from negate_sdk.hookspecs import hookimpl
from negate_sdk.imaging import ImageError
from negate_sdk.registry import (
    Entry,
    MissingDependencyError,
    Registry,
    RegistryError,
    UnknownNameError,
    create_classifier,
    create_dataset,
    create_detector,
    create_extractor,
    create_veto,
    get_classifier,
    get_dataset,
    get_detector,
    get_extractor,
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

try:
    __version__ = version("negate-sdk")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+unknown"

__all__ = [
    "REAL",
    "SYNTHETIC",
    "BaseExtractor",
    "BaseVeto",
    "Classifier",
    "Detector",
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
]
