"""Registers the handcrafted extractors through the ``negate_register_extractors`` hook.

Factories are lazy ``"module:attr"`` strings, so listing them imports neither scipy nor the families.
"""

from __future__ import annotations

from negate_sdk import hookimpl
from negate_sdk.registry import RegisterFn

EXTRACTORS = {
    "spectral": (
        "negate_handcrafted.spectral:SpectralExtractor",
        "Radial power spectrum bands and ratios, 1/f template deviation, log-log slope, upsampling-grid "
        "peaks, phase statistics",
    ),
    "residual": (
        "negate_handcrafted.residual:ResidualExtractor",
        "Laplacian, DoG and median residual moments and autocorrelation, wavelet-MAD noise sigma, SNR, "
        "noise level against brightness",
    ),
    "lbp": (
        "negate_handcrafted.lbp:LBPExtractor",
        "Uniform LBP histograms at (8,1), (16,2), (24,3) and their entropies",
    ),
    "wavelet": (
        "negate_handcrafted.wavelet:WaveletExtractor",
        "Haar and db2 LH/HL/HH energies at levels 1-3 and their ratios",
    ),
    "gabor": (
        "negate_handcrafted.gabor:GaborExtractor",
        "Fourier-domain 4x4 Gabor bank: mean magnitude and spatial spread, orientation summaries",
    ),
    "texture": (
        "negate_handcrafted.texture:TextureExtractor",
        "GLCM contrast/correlation/energy/homogeneity at 2 distances x 4 angles; HOG statistics",
    ),
    "edges": (
        "negate_handcrafted.edges:EdgesExtractor",
        "Edge density and sharpness, stroke width, straightness, box-counting dimension",
    ),
    "colour": (
        "negate_handcrafted.colour:ColourExtractor",
        "RGB and HSV moments, saturation statistics, colourfulness, joint colour-histogram entropy",
    ),
    "invert_saturate": (
        "negate_handcrafted.invert_saturate:InvertSaturateExtractor",
        "Edge and fine-texture change under colour inversion plus a strong saturation boost",
    ),
    "jpeg_ghost": (
        "negate_handcrafted.jpeg_ghost:JpegGhostExtractor",
        "JPEG re-quantisation error curve over qualities 30-95, its minimum, depth and slope",
    ),
    "patch": (
        "negate_handcrafted.patch:PatchExtractor",
        "Variation of brightness, contrast, edges and spectrum over a 4x4 tile grid; tile self-similarity",
    ),
    "handcrafted": (
        "negate_handcrafted.union:HandcraftedUnion",
        "All handcrafted families from one shared analysis context per image (their exact concatenation)",
    ),
}


@hookimpl
def negate_register_extractors(register: RegisterFn) -> None:
    """Register the handcrafted families and their union, lazily."""
    for name, (factory, description) in EXTRACTORS.items():
        register(name, factory, description=description, tags=("handcrafted",))
