"""The ``handcrafted`` union: every family on one shared analysis context per image.

Its columns are exactly the concatenation of the families' columns, with the same names
(``spectral__band_0_share``, ...) and the same values, but grayscale, spectrum, gradients and edge map
are computed once per image instead of once per family.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np

from negate_handcrafted.base import Feature, HandcraftedExtractor
from negate_handcrafted.colour import ColourExtractor
from negate_handcrafted.context import DEFAULT_MAX_PIXELS, AnalysisContext
from negate_handcrafted.edges import EdgesExtractor
from negate_handcrafted.gabor import GaborExtractor
from negate_handcrafted.invert_saturate import InvertSaturateExtractor
from negate_handcrafted.jpeg_ghost import JpegGhostExtractor
from negate_handcrafted.lbp import LBPExtractor
from negate_handcrafted.patch import PatchExtractor
from negate_handcrafted.residual import ResidualExtractor
from negate_handcrafted.spectral import SpectralExtractor
from negate_handcrafted.texture import TextureExtractor
from negate_handcrafted.wavelet import WaveletExtractor

FAMILIES: tuple[type[HandcraftedExtractor], ...] = (
    SpectralExtractor,
    ResidualExtractor,
    LBPExtractor,
    WaveletExtractor,
    GaborExtractor,
    TextureExtractor,
    EdgesExtractor,
    ColourExtractor,
    InvertSaturateExtractor,
    JpegGhostExtractor,
    PatchExtractor,
)
FAMILY_NAMES = tuple(family.name for family in FAMILIES)


@lru_cache(maxsize=64)
def _union_specs(names: tuple[str, ...]) -> tuple[Feature, ...]:
    """The prefixed features of the named families (they do not depend on the parameters)."""
    families = {family.name: family for family in FAMILIES}
    return tuple(
        Feature(f"{name}__{spec.name}", spec.meaning, spec.range, spec.rotation_invariant)
        for name in names
        for spec in families[name]().feature_specs()
    )


class HandcraftedUnion(HandcraftedExtractor):
    """All handcrafted families (or the subset ``families``) from one shared context per image.

    Feature names are ``<family>__<feature>``, and :meth:`get_feature_names_out` returns them unprefixed
    by ``handcrafted``, so a column is named exactly as the family alone would name it.
    """

    name = "handcrafted"
    version = "1+" + ".".join(f"{family.name}{family.version}" for family in FAMILIES)
    summary = __doc__.splitlines()[0]

    def __init__(
        self,
        max_pixels: int = DEFAULT_MAX_PIXELS,
        saturation_factor: float = 8.0,
        families: tuple[str, ...] | None = None,
    ) -> None:
        self.max_pixels = max_pixels
        self.saturation_factor = saturation_factor
        self.families = families

    def members(self) -> list[HandcraftedExtractor]:
        """The family extractors, configured with this union's ``max_pixels`` and ``saturation_factor``."""
        chosen = FAMILY_NAMES if self.families is None else tuple(self.families)
        unknown = sorted(set(chosen) - set(FAMILY_NAMES))
        if unknown:
            raise ValueError(f"unknown handcrafted families {unknown}; choose from {', '.join(FAMILY_NAMES)}")
        members: list[HandcraftedExtractor] = []
        for family in FAMILIES:
            if family.name not in chosen:
                continue
            if family is InvertSaturateExtractor:
                members.append(family(max_pixels=self.max_pixels, saturation_factor=self.saturation_factor))
            else:
                members.append(family(max_pixels=self.max_pixels))
        return members

    def feature_specs(self) -> list[Feature]:
        """The members' features, named ``<family>__<feature>``, in family order."""
        return list(_union_specs(tuple(member.name for member in self.members())))

    def compute(self, ctx: AnalysisContext) -> np.ndarray:
        """Every member's ``compute`` on the same context, concatenated."""
        return np.concatenate([member.raw_features(ctx) for member in self.members()])

    def compute_batch(self, contexts: Sequence[AnalysisContext]) -> np.ndarray:
        """``(n_contexts, n_features)``: each member over all the contexts in turn, concatenated."""
        return np.hstack([member.compute_batch(contexts) for member in self.members()])

    def get_feature_names_out(self, input_features: object = None) -> np.ndarray:
        """``(n_features,)`` names ``<family>__<feature>``: the same names the families give alone."""
        return np.asarray(self.feature_names(), dtype=object)
