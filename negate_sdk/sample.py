"""Samples: an image's id, content hash, lazily decoded pixels and metadata, labels when known."""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from negate_sdk import imaging
from negate_sdk.safetext import path_text


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
            pixels = _read_only(_check_pixels(pixels))  # a view: the caller's array keeps its flags
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
        """A sample backed by a file; ``id`` defaults to the path as given, in printable form."""
        fields.setdefault("id", path_text(path))  # printable and stable: ids go into JSON and Parquet
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
            decoded = imaging.open_image(self.data, max_pixels=self.max_pixels)
            decoded.pixels.flags.writeable = False
            self._decoded = decoded
        return self._decoded

    @property
    def pixels(self) -> np.ndarray:
        """``(height, width, 3)`` uint8 RGB pixels, EXIF orientation applied; read-only, as every
        extractor of a detector reads the same array (copy them to change them)."""
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
            "path": None if self.path is None else path_text(self.path),
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

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        if self._decoded is not None:  # pickle does not keep the flag: pixels stay read-only
            self._decoded.pixels.flags.writeable = False

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


def _read_only(pixels: np.ndarray) -> np.ndarray:
    view = pixels.view()
    view.flags.writeable = False
    return view


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


# Decoded pixels held at once while a batch is judged or extracted; one image beyond it at most. Large
# enough never to split an ordinary batch (32 images of 1024 x 1024 are 100 MB), small enough that a batch
# of near-limit images (100 MP decode to 300 MB each) cannot take the machine's memory.
MAX_BATCH_BYTES = 256 << 20


def decoded_groups(
    samples: Sequence[Sample], failures: dict[int, str], max_bytes: int = MAX_BATCH_BYTES
) -> Iterator[list[int]]:
    """Decode the samples in order and yield groups of the positions that decoded, each group's pixels
    together at most ``max_bytes`` (or one image, if that alone is larger).

    Undecodable samples go into ``failures`` with their one-line reason. The caller works on a group,
    then releases it before the next is decoded, so memory is bounded by ``max_bytes`` plus one image,
    whatever the images' sizes and however many there are.
    """
    group: list[int] = []
    held = 0
    for i, sample in enumerate(samples):
        try:
            size = sample.decode().pixels.nbytes
        except imaging.ImageError as err:
            failures[i] = str(err)
            continue
        if group and held + size > max_bytes:
            yield group
            group, held = [], 0
        group.append(i)
        held += size
    if group:
        yield group


def labels_of(samples: Sequence[Sample]) -> np.ndarray:
    """``(n_samples,)`` int labels of samples that all carry one; ValueError naming the first that doesn't."""
    missing = [s.id for s in samples if s.label is None]
    if missing:
        raise ValueError(f"{len(missing)} sample(s) have no label, e.g. {missing[0]!r}")
    return np.array([s.label for s in samples], dtype=np.int64)
