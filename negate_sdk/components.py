"""Base classes that make following the component contracts easy: extractors and vetoes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from negate_sdk.params import ParamsMixin, params_hash
from negate_sdk.sample import Sample
from negate_sdk.verdicts import VetoDecision, VetoEffect


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
        """``name-version-paramshash`` over :meth:`result_params`: changes whenever the features could."""
        return f"{self.name}-{self.version}-{params_hash(self.result_params())}"

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
