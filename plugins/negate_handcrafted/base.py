"""The base of every handcrafted family: named, documented features computed from a shared context.

A family declares its features as :class:`Feature` records (name, meaning, range, whether a 90° rotation
leaves it unchanged) and implements :meth:`HandcraftedExtractor.compute`, which reads an
:class:`~negate_handcrafted.context.AnalysisContext` and returns one value per feature. The same
``compute`` serves the family on its own (``features`` builds a context per image) and inside the
``handcrafted`` union (one context per image shared by all families), so the two agree exactly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from negate_handcrafted.context import DEFAULT_MAX_PIXELS, AnalysisContext
from negate_sdk.api import BaseExtractor, Sample
from negate_sdk.progress import ProgressFn

BATCH = 8  # images whose contexts are built together: each family then runs over all of them in a row


@dataclass(frozen=True)
class Feature:
    """One documented feature: its name, what it measures, its range, and its rotation behaviour.

    ``rotation_invariant`` is True when rotating the image by 90° leaves the value unchanged (up to
    floating-point rounding) for square images analysed without cropping; the tests check every such
    feature.
    """

    name: str
    meaning: str
    range: str
    rotation_invariant: bool = True


class HandcraftedExtractor(BaseExtractor):
    """Base class of the handcrafted families: metadata-driven names and a context-based ``compute``.

    Subclasses set ``name``, ``version`` and ``summary`` and implement :meth:`feature_specs` and
    :meth:`compute`. ``max_pixels`` caps the working crop (see :mod:`negate_handcrafted.context`).
    """

    summary: ClassVar[str] = ""

    def __init__(self, max_pixels: int = DEFAULT_MAX_PIXELS) -> None:
        self.max_pixels = max_pixels

    feature_table: ClassVar[list[Feature]] = []  # each family module's documented FEATURES table

    def feature_specs(self) -> list[Feature]:
        """The documented features, in column order."""
        return list(self.feature_table)

    def compute(self, ctx: AnalysisContext) -> list[float] | np.ndarray:
        """One value per feature of :meth:`feature_specs`, in that order, read from ``ctx``."""
        raise NotImplementedError

    def feature_names(self) -> list[str]:
        """The feature names, in column order."""
        return [spec.name for spec in self.feature_specs()]

    def context(self, pixels: np.ndarray) -> AnalysisContext:
        """The analysis context of one ``(height, width, 3)`` uint8 image under this extractor's budget."""
        return AnalysisContext(pixels, max_pixels=self.max_pixels)

    def raw_features(self, ctx: AnalysisContext) -> np.ndarray:
        """``(n_features,)`` float64 values from ``compute``, checked for length but not for finiteness."""
        values = np.asarray(self.compute(ctx), dtype=np.float64).ravel()
        expected = len(self.feature_specs())
        if values.shape[0] != expected:
            raise RuntimeError(f"{self.name} computed {values.shape[0]} values for {expected} features")
        return values

    def compute_batch(self, contexts: Sequence[AnalysisContext]) -> np.ndarray:
        """``(n_contexts, n_features)`` float64 raw features (the union runs it family by family)."""
        return np.stack([self.raw_features(ctx) for ctx in contexts])

    def features(self, pixels: np.ndarray) -> np.ndarray:
        """``(n_features,)`` features of one ``(height, width, 3)`` uint8 image; always finite.

        Every feature is defined for degenerate images by construction; the final ``nan_to_num`` only
        guards a downstream scaler against a case nobody foresaw (the tests check ``raw_features``).
        """
        values = self.raw_features(self.context(pixels))
        return np.nan_to_num(values, nan=0.0, posinf=0.0, neginf=0.0)

    def transform(
        self,
        samples: Sequence[Sample],
        n_jobs: int = 1,
        progress: ProgressFn | None = None,
    ) -> np.ndarray:
        """``(n_samples, n_features)`` float32 features; ``n_jobs > 1`` (or -1: all cores) uses processes.

        Images are processed in batches of :data:`BATCH`: their contexts are built, then each family
        runs over the whole batch before the next one (its code and per-shape caches stay warm; values
        are identical to image by image). ``progress``, when given, receives ``(stage, advance, total)``
        after each batch (or each chunk, in parallel).
        """
        if n_jobs != 1:
            from negate_handcrafted.parallel import transform_parallel

            return transform_parallel(self, samples, n_jobs=n_jobs, progress=progress)
        out = np.empty((len(samples), len(self.feature_specs())), dtype=np.float32)
        for start in range(0, len(samples), BATCH):
            chunk = samples[start : start + BATCH]
            # a path-backed sample decoded here is released after use, so memory stays flat in n_samples;
            # one the caller had already decoded keeps its pixels
            decoded_before = [sample.is_decoded for sample in chunk]
            contexts = [self.context(sample.pixels) for sample in chunk]
            for sample, before in zip(chunk, decoded_before):
                if sample.path is not None and not before:
                    sample.release()
            values = self.compute_batch(contexts)
            out[start : start + len(chunk)] = np.nan_to_num(values, nan=0.0, posinf=0.0, neginf=0.0)
            if progress is not None:
                progress(f"extract {self.name}", len(chunk), len(samples))
        return out
