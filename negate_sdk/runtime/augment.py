"""Images for training: square views of any input size, seeded augmentation, and a bank of decoded views.

Views reuse :mod:`negate_sdk.runtime.views` (aspect-preserving resize of the short side, then the centre
square). Augmentation works on ``uint8`` pixels with Pillow and numpy; its randomness is drawn from a
generator seeded by ``(seed, epoch, view, image index)``, so an image is augmented the same way whatever
batch it lands in, and a resumed run repeats an uninterrupted one exactly.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image

from negate_sdk.api import Sample
from negate_sdk.runtime.views import ViewSpec, make_views

# Decoded training views are kept in memory up to this size; beyond it they are re-decoded every epoch.
MAX_BANK_BYTES = 1 << 30


def square_view(pixels: np.ndarray, spec: ViewSpec) -> np.ndarray:
    """The ``(size, size, 3)`` uint8 centre view of one ``(height, width, 3)`` uint8 image."""
    return make_views(pixels, ViewSpec(spec.size, spec.crop_pct, spec.interpolation, 1))[0]


@dataclass(frozen=True)
class Augmentation:
    """Random changes applied to training views (never at prediction time).

    ``crop_scale``: smallest share of the view's area a random resized crop keeps (aspect ratio in
    [3/4, 4/3]); the crop is resized back to the view size; 1.0 disables it (no resampling at all).
    ``flip``: mirror left-right with probability 1/2. ``jpeg_probability``: share of views re-encoded as
    JPEG at a quality drawn uniformly from ``[jpeg_quality, 95]``.
    """

    crop_scale: float = 1.0
    flip: bool = False
    jpeg_probability: float = 0.0
    jpeg_quality: int = 70

    def __post_init__(self) -> None:
        if not 0.0 < self.crop_scale <= 1.0:
            raise ValueError(f"crop_scale must be in (0, 1], got {self.crop_scale}")
        if not 0.0 <= self.jpeg_probability <= 1.0:
            raise ValueError(f"jpeg_probability must be in [0, 1], got {self.jpeg_probability}")
        if not 1 <= self.jpeg_quality <= 95:
            raise ValueError(f"jpeg_quality must be in [1, 95], got {self.jpeg_quality}")

    @property
    def active(self) -> bool:
        """True when the augmentation can change an image."""
        return self.crop_scale < 1.0 or self.flip or self.jpeg_probability > 0.0

    def apply(self, image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """An augmented copy of one ``(size, size, 3)`` uint8 view."""
        out = image
        size = image.shape[0]
        if self.crop_scale < 1.0:
            area = rng.uniform(self.crop_scale, 1.0)
            ratio = np.exp(rng.uniform(np.log(3 / 4), np.log(4 / 3)))
            width = int(np.clip(round(size * np.sqrt(area * ratio)), 1, size))
            height = int(np.clip(round(size * np.sqrt(area / ratio)), 1, size))
            top = int(rng.integers(0, size - height + 1))
            left = int(rng.integers(0, size - width + 1))
            crop = Image.fromarray(np.ascontiguousarray(out[top : top + height, left : left + width]))
            out = np.asarray(crop.resize((size, size), resample=Image.Resampling.BICUBIC))
        if self.flip and rng.random() < 0.5:
            out = out[:, ::-1]
        if self.jpeg_probability > 0.0 and rng.random() < self.jpeg_probability:
            quality = int(rng.integers(self.jpeg_quality, 96))
            buffer = io.BytesIO()
            Image.fromarray(np.ascontiguousarray(out)).save(buffer, format="JPEG", quality=quality)
            out = np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"))
        return np.ascontiguousarray(out)

    def batch(
        self, images: np.ndarray, indices: Sequence[int], seed: int, epoch: int, view: int = 0
    ) -> np.ndarray:
        """``(n, size, size, 3)`` uint8 augmented copies of ``images``; image ``indices`` seed each one."""
        if not self.active:
            return images
        out = np.empty_like(images)
        for row, (image, index) in enumerate(zip(images, indices)):
            rng = np.random.default_rng((int(seed), int(epoch), int(view), int(index)))
            out[row] = self.apply(image, rng)
        return out


class ImageBank:
    """Square views of a list of samples, decoded once and kept in memory (up to :data:`MAX_BANK_BYTES`).

    ``get(indices)`` returns ``(len(indices), size, size, 3)`` uint8. A sample that cannot be decoded
    raises its one-line :class:`negate_sdk.imaging.ImageError`. Bytes and pixels of file-backed samples
    are released after their view is cut.
    """

    def __init__(
        self,
        samples: Sequence[Sample],
        prepare: Callable[[np.ndarray], np.ndarray],
        size: int,
        progress: Callable[[str, int, int], None] | None = None,
    ) -> None:
        self.samples = samples
        self.prepare = prepare
        self.size = size
        self._views: np.ndarray | None = None
        if len(samples) * size * size * 3 <= MAX_BANK_BYTES:
            views = np.empty((len(samples), size, size, 3), dtype=np.uint8)
            step, reported = max(1, len(samples) // 100), 0
            for i in range(len(samples)):
                views[i] = self._view(i)
                if progress is not None and ((i + 1) % step == 0 or i + 1 == len(samples)):
                    progress("prepare images", i + 1 - reported, len(samples))
                    reported = i + 1
            self._views = views

    def __len__(self) -> int:
        return len(self.samples)

    def _view(self, index: int) -> np.ndarray:
        sample = self.samples[index]
        try:
            return self.prepare(sample.pixels)
        finally:
            sample.release()  # the view is all training needs; keep memory flat on large sets

    def get(self, indices: Sequence[int] | np.ndarray) -> np.ndarray:
        """``(n, size, size, 3)`` uint8 views of the samples at ``indices``."""
        if self._views is not None:
            return self._views[np.asarray(indices, dtype=np.int64)]
        return np.stack([self._view(int(i)) for i in indices]) if len(indices) else self._empty()

    def _empty(self) -> np.ndarray:
        return np.empty((0, self.size, self.size, 3), dtype=np.uint8)


def to_tensor(images: np.ndarray, mean: Sequence[float], std: Sequence[float], device: str):
    """``(n, 3, size, size)`` float32 torch tensor on ``device`` from ``(n, size, size, 3)`` uint8 views,
    normalised as ``(pixels / 255 - mean) / std``."""
    import torch

    x = torch.from_numpy(np.ascontiguousarray(images)).to(device).permute(0, 3, 1, 2).float()
    mean_t = torch.tensor(mean, device=device, dtype=torch.float32).view(1, 3, 1, 1) * 255.0
    std_t = torch.tensor(std, device=device, dtype=torch.float32).view(1, 3, 1, 1) * 255.0
    return ((x - mean_t) / std_t).contiguous()
