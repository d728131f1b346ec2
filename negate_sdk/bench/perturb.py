"""Robustness conditions: deterministic perturbations applied to real and synthetic images alike.

Each condition maps an image's pixels to new encoded bytes. Randomness (noise) is seeded by the run's
seed and the image's sha256, so a given image gets the same perturbation in any order, batch or process.
The ``format_equalise`` condition re-encodes every image identically (JPEG quality 90, 4:2:0, metadata
dropped) to expose detectors that lean on the file format rather than the pixels.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import numpy as np
from PIL import Image, ImageFilter

from negate_sdk.api import Sample
from negate_sdk.imaging import MIN_SIDE


@dataclass(frozen=True)
class Condition:
    """A named perturbation: pixels (and a per-image RNG) to encoded bytes."""

    name: str
    description: str
    apply: Callable[[np.ndarray, np.random.Generator], bytes]


def _png(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def _jpeg(pixels: np.ndarray, quality: int) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=quality, subsampling="4:2:0")
    return buffer.getvalue()


def _resize(pixels: np.ndarray, factor: float) -> np.ndarray:
    h, w = pixels.shape[:2]
    size = (max(MIN_SIDE, round(w * factor)), max(MIN_SIDE, round(h * factor)))
    return np.asarray(Image.fromarray(pixels).resize(size, Image.Resampling.LANCZOS))


def _blur(pixels: np.ndarray, sigma: float) -> np.ndarray:
    return np.asarray(Image.fromarray(pixels).filter(ImageFilter.GaussianBlur(radius=sigma)))


def _noise(pixels: np.ndarray, rng: np.random.Generator, sigma: float) -> np.ndarray:
    noisy = pixels.astype(np.float32) + rng.normal(0.0, sigma, size=pixels.shape).astype(np.float32)
    return np.clip(np.rint(noisy), 0, 255).astype(np.uint8)


def _centre_crop(pixels: np.ndarray, keep: float) -> np.ndarray:
    h, w = pixels.shape[:2]
    ch, cw = max(MIN_SIDE, round(h * keep)), max(MIN_SIDE, round(w * keep))
    top, left = (h - ch) // 2, (w - cw) // 2
    return pixels[top : top + ch, left : left + cw]


def _social(pixels: np.ndarray) -> bytes:
    h, w = pixels.shape[:2]
    longest = max(h, w)
    if longest > 1080:
        pixels = _resize(pixels, 1080 / longest)
    return _jpeg(pixels, 85)


def _conditions() -> dict[str, Condition]:
    out = {}
    for q in (95, 90, 75, 50, 30):
        out[f"jpeg_q{q}"] = Condition(f"jpeg_q{q}", f"JPEG quality {q}", lambda px, rng, q=q: _jpeg(px, q))
    for f in (0.5, 0.25):
        out[f"resize_x{f}"] = Condition(
            f"resize_x{f}", f"downscale x{f} (Lanczos), PNG", lambda px, rng, f=f: _png(_resize(px, f))
        )
    for s in (1, 2, 4):
        out[f"blur_s{s}"] = Condition(
            f"blur_s{s}", f"Gaussian blur sigma {s}, PNG", lambda px, rng, s=s: _png(_blur(px, s))
        )
    for s in (5, 10):
        out[f"noise_s{s}"] = Condition(
            f"noise_s{s}",
            f"Gaussian noise sigma {s} (of 255), PNG",
            lambda px, rng, s=s: _png(_noise(px, rng, s)),
        )
    out["crop_50"] = Condition(
        "crop_50", "centre crop keeping 50% of each side, PNG", lambda px, rng: _png(_centre_crop(px, 0.5))
    )
    out["social"] = Condition(
        "social", "resize to 1080 px long side (if larger) + JPEG 85", lambda px, rng: _social(px)
    )
    out["format_equalise"] = Condition(
        "format_equalise",
        "every image re-encoded as JPEG quality 90, metadata dropped",
        lambda px, rng: _jpeg(px, 90),
    )
    return out


CONDITIONS = _conditions()
PRESETS = {
    "jpeg": [c for c in CONDITIONS if c.startswith("jpeg_")],
    "resize": [c for c in CONDITIONS if c.startswith("resize_")],
    "blur": [c for c in CONDITIONS if c.startswith("blur_")],
    "noise": [c for c in CONDITIONS if c.startswith("noise_")],
    "crop": ["crop_50"],
    "social": ["social"],
    "format-equalise": ["format_equalise"],
}
PRESETS["all"] = [c for names in PRESETS.values() for c in names]


def resolve_conditions(presets: list[str] | tuple[str, ...]) -> list[str]:
    """Condition names for presets (``jpeg``, ``blur`` … ``all``) or condition names, without repeats."""
    names: list[str] = []
    for preset in presets:
        if preset in PRESETS:
            names += PRESETS[preset]
        elif preset in CONDITIONS:
            names.append(preset)
        else:
            known = ", ".join([*PRESETS, *CONDITIONS])
            raise ValueError(f"unknown perturbation '{preset}'; use one of: {known}")
    return list(dict.fromkeys(names))


def perturbed_bytes(sample: Sample, condition: str, seed: int = 0) -> bytes:
    """``sample``'s pixels under ``condition``, encoded; the RNG is seeded by ``seed`` and the image hash."""
    cond = CONDITIONS[condition]
    digest = hashlib.sha256(f"{seed}:{condition}:{sample.sha256}".encode()).digest()
    rng = np.random.default_rng(int.from_bytes(digest[:8], "big"))
    data = cond.apply(sample.pixels, rng)
    sample.release()
    return data


def perturb(sample: Sample, condition: str, seed: int = 0) -> Sample:
    """A lazy sample: ``sample`` under ``condition`` (same id, label and attributes), made on first use.

    Its bytes are recomputed after :meth:`Sample.release`, so a perturbed test set is streamed like a
    clean one.
    """
    if condition not in CONDITIONS:
        raise ValueError(f"unknown condition '{condition}'")
    return Sample(
        sample.id,
        loader=partial(perturbed_bytes, sample, condition, seed),
        label=sample.label,
        generator=sample.generator,
        source=sample.source,
        split=sample.split,
        attrs={**sample.attrs, "condition": condition},
        max_pixels=sample.max_pixels,
    )
