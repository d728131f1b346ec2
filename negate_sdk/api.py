"""The contracts every component follows, and small base classes that make following them easy.

Label convention: ``1`` = synthetic (the positive class), ``0`` = real. Scores are P(synthetic).

- :class:`Extractor`: ``fit(samples, y=None)``, ``transform(samples) -> (n_samples, n_features)`` float32,
  ``get_feature_names_out()``; attributes ``name``, ``version`` and ``cache_key``.
- :class:`Classifier`: exactly scikit-learn's binary classifier (``LogisticRegression()`` qualifies).
- :class:`Veto`: ``fit``, ``decide(samples) -> list[VetoDecision]``, ``predict(samples) -> int8`` with
  ``-1`` abstain; its ``effect`` says whether it may only downgrade SYNTHETIC or raise to SYNTHETIC.
- :class:`Detector`: ``fit``, ``predict_proba``, ``predict``, ``verdicts``, ``save`` / ``load``.
- :class:`Sample`: an image with its id, content hash, lazily decoded pixels and metadata.
- :class:`Verdict`: one image's score, three-way label, thresholds and reasons.
- :class:`WeightsCfg`: where a model's weights come from and what they were trained on.

Components are plain objects: this module imports neither pluggy nor click nor torch.
"""

from __future__ import annotations

import hashlib
import inspect
import io
import json
import os
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from enum import Enum
from pathlib import Path
from typing import Any, ClassVar, Protocol, runtime_checkable

import numpy as np

from negate_sdk import imaging

SYNTHETIC = 1
REAL = 0


class Label(str, Enum):
    """The three-way verdict of a detector."""

    GENUINE = "GENUINE"
    UNCERTAIN = "UNCERTAIN"
    SYNTHETIC = "SYNTHETIC"


class VetoEffect(str, Enum):
    """What a veto may do to a verdict."""

    DOWNGRADE = "downgrade"  # may only move SYNTHETIC to UNCERTAIN (it predicts 0: "looks genuine")
    RAISE = "raise"  # may raise any verdict to SYNTHETIC on evidence (it predicts 1)


# -- parameters ------------------------------------------------------------------------------------


class ParamsMixin:
    """scikit-learn's parameter protocol: ``get_params`` / ``set_params`` with nested ``a__b`` keys.

    ``__init__`` must only store its keyword arguments under the same names; learned state ends in ``_``.
    A parameter holding a list of named components (each with ``name`` and ``get_params``) exposes them
    as ``param__<name>__<sub>``: ``extractors__spectral__n_bands``.
    """

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


# -- samples ---------------------------------------------------------------------------------------


class Sample:
    """One image: an id, the sha256 of its bytes, lazily decoded RGB pixels and the file's metadata.

    Build it with :meth:`from_path`, :meth:`from_bytes`, :meth:`from_array`, or with a ``loader`` (a
    picklable callable returning the encoded bytes: a row of a Parquet file, a perturbed copy of
    another image). Bytes are read and pixels decoded on first use and cached until :meth:`release`.
    Decoding failures raise :class:`negate_sdk.imaging.ImageError` with a one-line reason. A Sample made
    from a path or a loader pickles cheaply (only the recipe travels), so it can cross processes.
    """

    def __init__(
        self,
        id: str,
        *,
        path: str | os.PathLike[str] | None = None,
        data: bytes | None = None,
        loader: Callable[[], bytes] | None = None,
        pixels: np.ndarray | None = None,
        sha256: str | None = None,
        label: int | None = None,
        generator: str | None = None,
        source: str | None = None,
        split: str | None = None,
        attrs: dict[str, Any] | None = None,
        max_pixels: int = imaging.DEFAULT_MAX_PIXELS,
    ) -> None:
        if path is None and data is None and pixels is None and loader is None:
            raise ValueError("a Sample needs a path, bytes, a loader or pixels")
        self.id = str(id)
        self.path = None if path is None else Path(path)
        self.label = None if label is None else int(label)
        self.generator = generator
        self.source = source
        self.split = split
        self.attrs = dict(attrs or {})
        self.max_pixels = max_pixels
        self._data = data
        self._loader = loader
        self._sha256 = sha256
        self._decoded: imaging.DecodedImage | None = None
        if pixels is not None:
            pixels = _check_pixels(pixels)
            meta = imaging.ImageMetadata(
                format="ARRAY", mode="RGB", width=pixels.shape[1], height=pixels.shape[0], orientation=1,
                n_frames=1, text={}, exif={}, xmp=None, icc_profile=None, has_c2pa=False, jpeg_quality=None,
            )  # fmt: skip
            self._decoded = imaging.DecodedImage(pixels=pixels, metadata=meta)
            self._from_array = True
        else:
            self._from_array = False

    @classmethod
    def from_path(cls, path: str | os.PathLike[str], **fields: Any) -> Sample:
        """A sample backed by a file; ``id`` defaults to the path as given."""
        fields.setdefault("id", str(path))
        return cls(path=path, **fields)

    @classmethod
    def from_bytes(cls, data: bytes, **fields: Any) -> Sample:
        """A sample from encoded image bytes; ``id`` defaults to the first 16 hex digits of the sha256."""
        digest = hashlib.sha256(data).hexdigest()
        fields.setdefault("id", digest[:16])
        return cls(data=bytes(data), sha256=digest, **fields)

    @classmethod
    def from_array(cls, pixels: np.ndarray, **fields: Any) -> Sample:
        """A sample from an ``(height, width, 3)`` uint8 array (or ``(height, width)`` grayscale).

        Its sha256 is taken over the shape and the raw pixel bytes; :attr:`data` is a lossless PNG.
        """
        pixels = _check_pixels(pixels)
        digest = hashlib.sha256(f"array:{pixels.shape}:".encode() + pixels.tobytes()).hexdigest()
        fields.setdefault("id", digest[:16])
        return cls(pixels=pixels, sha256=digest, **fields)

    @property
    def data(self) -> bytes:
        """The encoded bytes (read from the file once and cached until :meth:`release`)."""
        if self._data is None:
            if self.path is not None:
                self._data = imaging.read_bytes(self.path)
            elif self._loader is not None:
                self._data = self._loader()
            else:  # from an array: encode losslessly
                from PIL import Image

                buffer = io.BytesIO()
                Image.fromarray(self.pixels).save(buffer, format="PNG")
                self._data = buffer.getvalue()
        return self._data

    @property
    def sha256(self) -> str:
        """Hex sha256 of the file bytes: the key under which features of this image are cached."""
        if self._sha256 is None:
            self._sha256 = hashlib.sha256(self.data).hexdigest()
        return self._sha256

    def decode(self) -> imaging.DecodedImage:
        """Decode (once) and return pixels and metadata; raises ``ImageError`` with a one-line reason."""
        if self._decoded is None:
            self._decoded = imaging.open_image(self.data, max_pixels=self.max_pixels)
        return self._decoded

    @property
    def pixels(self) -> np.ndarray:
        """``(height, width, 3)`` uint8 RGB pixels, EXIF orientation applied."""
        return self.decode().pixels

    @property
    def is_decoded(self) -> bool:
        """True when the pixels are decoded and cached (until :meth:`release`)."""
        return self._decoded is not None

    @property
    def metadata(self) -> imaging.ImageMetadata:
        """The file's metadata (text chunks, EXIF, XMP, ICC, C2PA presence) for provenance plugins."""
        return self.decode().metadata

    def release(self) -> None:
        """Drop cached bytes and pixels (kept: id, hash, labels); they are re-read on next use."""
        if self._from_array:
            self._data = None
            return
        if self.path is not None or self._loader is not None:
            self._data = None
        self._decoded = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe identity of the sample (no pixels)."""
        return {
            "id": self.id,
            "path": None if self.path is None else str(self.path),
            "sha256": self._sha256,
            "label": self.label,
            "generator": self.generator,
            "source": self.source,
            "split": self.split,
            "attrs": self.attrs,
        }

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        if self.path is not None or self._loader is not None:  # only the recipe travels, not the bytes
            state["_data"] = None
            state["_decoded"] = None
        return state

    def __repr__(self) -> str:
        label = {None: "?", 0: "real", 1: "synthetic"}.get(self.label, str(self.label))
        return f"Sample(id={self.id!r}, label={label})"


def _check_pixels(pixels: np.ndarray) -> np.ndarray:
    pixels = np.asarray(pixels)
    if pixels.ndim == 2:
        pixels = np.repeat(pixels[:, :, None], 3, axis=2)
    if pixels.ndim != 3 or pixels.shape[2] != 3:
        raise ValueError(f"pixels must be (height, width, 3) or (height, width), got shape {pixels.shape}")
    if pixels.dtype != np.uint8:
        raise ValueError(f"pixels must be uint8, got {pixels.dtype}")
    return np.ascontiguousarray(pixels)


def partition_readable(
    samples: Sequence[Sample], *, release: bool = False
) -> tuple[list[int], dict[int, str]]:
    """Decode each sample: positions of those that decode, and ``{position: one-line reason}`` for the rest.

    A batch never stops on a bad file. With ``release`` the pixels are dropped again afterwards.
    """
    readable, failures = [], {}
    for i, sample in enumerate(samples):
        try:
            sample.decode()
            readable.append(i)
        except imaging.ImageError as err:
            failures[i] = str(err)
        if release:
            sample.release()
    return readable, failures


def labels_of(samples: Sequence[Sample]) -> np.ndarray:
    """``(n_samples,)`` int labels of samples that all carry one; ValueError naming the first that doesn't."""
    missing = [s.id for s in samples if s.label is None]
    if missing:
        raise ValueError(f"{len(missing)} sample(s) have no label, e.g. {missing[0]!r}")
    return np.array([s.label for s in samples], dtype=np.int64)


# -- extractors ------------------------------------------------------------------------------------


@runtime_checkable
class Extractor(Protocol):
    """Turns a batch of samples into a float32 feature matrix with named columns."""

    name: str
    version: str

    @property
    def cache_key(self) -> str:
        """Identifies the features: derived from name, version and parameters."""
        ...

    def fit(self, samples: Sequence[Sample], y: np.ndarray | None = None) -> Extractor:
        """Learn what the extractor needs (most need nothing); return ``self``."""
        ...

    def transform(self, samples: Sequence[Sample]) -> np.ndarray:
        """``(n_samples, n_features)`` float32 features of a batch of samples."""
        ...

    def get_feature_names_out(self) -> np.ndarray:
        """``(n_features,)`` names of the columns :meth:`transform` returns."""
        ...


class BaseExtractor(ParamsMixin):
    """Base class for extractors: parameters, cache key, and a batch ``transform`` over ``features``.

    Subclasses set ``name`` and ``version``, implement :meth:`feature_names` and either
    :meth:`features` (one image's pixels to a 1-D vector) or a vectorised :meth:`transform`.
    Bump ``version`` whenever the numbers an unchanged configuration produces change: cached
    features are keyed by it.
    """

    name: ClassVar[str] = ""
    version: ClassVar[str] = "0"
    uses_clip: ClassVar[bool] = False

    @property
    def cache_key(self) -> str:
        """``name-version-paramshash``: changes whenever the features could."""
        return f"{self.name}-{self.version}-{params_hash(self.get_params(deep=False))}"

    def fit(self, samples: Sequence[Sample], y: np.ndarray | None = None) -> BaseExtractor:
        """Nothing to learn by default; return ``self``."""
        return self

    def feature_names(self) -> list[str]:
        """The feature names, in column order."""
        raise NotImplementedError

    def features(self, pixels: np.ndarray) -> np.ndarray:
        """``(n_features,)`` features of one ``(height, width, 3)`` uint8 image."""
        raise NotImplementedError

    def transform(self, samples: Sequence[Sample]) -> np.ndarray:
        """``(n_samples, n_features)`` float32: :meth:`features` of each sample, stacked."""
        n_features = len(self.feature_names())
        out = np.empty((len(samples), n_features), dtype=np.float32)
        for row, sample in enumerate(samples):
            out[row] = self.features(sample.pixels)
        return out

    def fit_transform(self, samples: Sequence[Sample], y: np.ndarray | None = None) -> np.ndarray:
        """``fit`` then ``transform``."""
        return self.fit(samples, y).transform(samples)

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """``(n_features,)`` object array of feature names, prefixed with the extractor name."""
        return np.asarray([f"{self.name}__{n}" for n in self.feature_names()], dtype=object)


# -- classifiers -----------------------------------------------------------------------------------


@runtime_checkable
class Classifier(Protocol):
    """A scikit-learn binary classifier; label 1 is synthetic."""

    classes_: np.ndarray

    def fit(self, X: np.ndarray, y: np.ndarray) -> Classifier:
        """Fit on ``(n_samples, n_features)`` features and ``(n_samples,)`` labels; return ``self``."""
        ...

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """``(n_samples, 2)`` probabilities of classes ``classes_`` (``[0, 1]``)."""
        ...

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """Constructor parameters."""
        ...

    def set_params(self, **params: Any) -> Classifier:
        """Set parameters; return ``self``."""
        ...


# -- vetoes ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VetoDecision:
    """One veto's decision on one image: 1 synthetic, 0 genuine, -1 abstain, and why."""

    veto: str
    value: int
    reason: str = ""
    applied: bool = False  # set by the detector when the decision changed the verdict

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe view."""
        return asdict(self)


@runtime_checkable
class Veto(Protocol):
    """A model allowed to override a detector's verdict, with a stated reason."""

    name: str
    effect: VetoEffect

    def fit(self, samples: Sequence[Sample], y: np.ndarray | None = None) -> Veto:
        """Learn (if anything); return ``self``."""
        ...

    def decide(self, samples: Sequence[Sample]) -> list[VetoDecision]:
        """One decision per sample, with its reason."""
        ...

    def predict(self, samples: Sequence[Sample]) -> np.ndarray:
        """``(n_samples,)`` int8: 1 synthetic, 0 genuine, -1 abstain."""
        ...


class BaseVeto(ParamsMixin):
    """Base class for vetoes: ``predict`` derived from ``decide``; ``fit`` does nothing by default."""

    name: ClassVar[str] = ""
    effect: ClassVar[VetoEffect] = VetoEffect.DOWNGRADE

    def fit(self, samples: Sequence[Sample], y: np.ndarray | None = None) -> BaseVeto:
        """Nothing to learn by default; return ``self``."""
        return self

    def decide(self, samples: Sequence[Sample]) -> list[VetoDecision]:
        """One :class:`VetoDecision` per sample."""
        raise NotImplementedError

    def predict(self, samples: Sequence[Sample]) -> np.ndarray:
        """``(n_samples,)`` int8 decisions: 1 synthetic, 0 genuine, -1 abstain."""
        return np.array([d.value for d in self.decide(samples)], dtype=np.int8).reshape(len(samples))


# -- verdicts and detectors ------------------------------------------------------------------------


@dataclass(frozen=True)
class Thresholds:
    """A detector's decision points on the calibrated score, chosen on validation data, never test.

    ``score < t_genuine`` is GENUINE, ``score >= t_synthetic`` SYNTHETIC, in between UNCERTAIN;
    ``t_decision`` is the single threshold used for binary predictions (accuracy).
    """

    t_genuine: float = 0.5
    t_synthetic: float = 0.5
    t_decision: float = 0.5

    def __post_init__(self) -> None:
        if not 0.0 <= self.t_genuine <= self.t_synthetic <= 1.0:
            raise ValueError(
                f"thresholds must satisfy 0 <= t_genuine <= t_synthetic <= 1, got "
                f"{self.t_genuine} and {self.t_synthetic}"
            )

    def label(self, score: float) -> Label:
        """The three-way label of one calibrated score."""
        if score >= self.t_synthetic:
            return Label.SYNTHETIC
        if score < self.t_genuine:
            return Label.GENUINE
        return Label.UNCERTAIN

    def to_dict(self) -> dict[str, float]:
        """JSON-safe view."""
        return asdict(self)


@dataclass
class Verdict:
    """A detector's answer on one image."""

    score: float  # calibrated P(synthetic)
    label: Label
    t_genuine: float
    t_synthetic: float
    sample_id: str | None = None
    vetoes: list[VetoDecision] = field(default_factory=list)
    top_features: list[tuple[str, float]] = field(default_factory=list)
    error: str | None = None

    @property
    def reasons(self) -> list[str]:
        """Reasons of the vetoes that changed this verdict."""
        return [f"{d.veto}: {d.reason}" for d in self.vetoes if d.applied]

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe view."""
        return {
            "sample_id": self.sample_id,
            "score": self.score,
            "verdict": self.label.value,
            "t_genuine": self.t_genuine,
            "t_synthetic": self.t_synthetic,
            "reasons": self.reasons,
            "vetoes": [d.to_dict() for d in self.vetoes],
            "top_features": [[name, value] for name, value in self.top_features],
            "error": self.error,
        }


@runtime_checkable
class Detector(Protocol):
    """Samples in, calibrated scores and three-way verdicts out; saved and loaded without pickle."""

    name: str

    def fit(self, samples: Sequence[Sample], y: np.ndarray | None = None) -> Detector:
        """Fit on labelled samples (``y`` defaults to the samples' labels); return ``self``."""
        ...

    def predict_proba(self, samples: Sequence[Sample]) -> np.ndarray:
        """``(n_samples, 2)`` calibrated probabilities of [real, synthetic]."""
        ...

    def predict(self, samples: Sequence[Sample]) -> np.ndarray:
        """``(n_samples,)`` int labels at the detector's decision threshold."""
        ...

    def verdicts(self, samples: Sequence[Sample]) -> list[Verdict]:
        """One :class:`Verdict` per sample, vetoes applied."""
        ...

    def save(self, directory: str | os.PathLike[str]) -> Path:
        """Write the fitted detector to ``directory`` in safe formats (no pickle); return the path."""
        ...

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """Parameters, nested ones as ``component__param``."""
        ...

    def set_params(self, **params: Any) -> Detector:
        """Set parameters; return ``self``."""
        ...


# -- weights ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WeightsCfg:
    """Where a model's weights come from, how to feed it, and what it was trained on.

    Resolution order (for the learned extractors): ``file`` (explicit local file or folder), ``package``
    (an installed package shipping the weights), the Hugging Face cache for ``hf_id``, then the hub.
    ``trained_on`` names manifests the weights have seen, so leaderboards can flag contamination.
    """

    name: str
    hf_id: str | None = None
    revision: str | None = None
    url: str | None = None
    file: str | None = None
    package: str | None = None
    filename: str | None = None
    sha256: str | None = None
    input_size: tuple[int, int, int] | None = None
    mean: tuple[float, float, float] | None = None
    std: tuple[float, float, float] | None = None
    licence: str | None = None
    trained_on: tuple[str, ...] = ()

    def replace(self, **changes: Any) -> WeightsCfg:
        """A copy with ``changes`` applied."""
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe view."""
        data = asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in data.items()}
