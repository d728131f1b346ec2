"""Hostile image files, built by each test: every one costs one exact line, in bounded time and memory.

Covers the container scan before Pillow (JPEG segments, PNG chunks, WebP chunks, TIFF pages), the
caps on kept metadata strings, the row-block pixel conversion (bit-identical to converting the whole
image, with far less memory), and hostile paths (FIFO, device, NUL, too long, unreadable,
non-UTF-8 and escape-code names).
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import stat
import struct
import subprocess
import sys
import threading
import time
import tracemalloc
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import ExifTags, Image, ImageFile, TiffTags
from PIL.PngImagePlugin import PngInfo

from negate_sdk.imaging import (
    Failure,
    ImageError,
    check_structure,
    open_image,
    open_many,
    pixels,
    probe,
    read_bytes,
)
from negate_sdk.imaging.containers import MAX_CONTAINER_CHUNKS
from negate_sdk.imaging.metadata import MAX_EXIF_TAGS, MAX_TEXT_CHARS, MAX_XMP_CHARS
from negate_sdk.safetext import ELLIPSIS

MiB = 1 << 20


@pytest.fixture(autouse=True)
def _restore_pillow_globals(monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", Image.MAX_IMAGE_PIXELS)
    yield
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


def encode(im: Image.Image, fmt: str, **kw) -> bytes:
    buffer = io.BytesIO()
    im.save(buffer, fmt, **kw)
    return buffer.getvalue()


def refusal(source, **kw) -> str:
    """The one-line reason open_image gives for ``source``."""
    with pytest.raises(ImageError) as info:
        open_image(source, **kw)
    assert "\n" not in str(info.value) and str(info.value) == info.value.reason
    return info.value.reason


@contextlib.contextmanager
def bounded(seconds: float):
    """Assert the block takes under ``seconds`` (wall clock, time.perf_counter)."""
    start = time.perf_counter()
    yield
    elapsed = time.perf_counter() - start
    assert elapsed < seconds, f"took {elapsed:.2f} s, bound {seconds} s"


# --- JPEG -------------------------------------------------------------------------------------------

JPEG = encode(Image.new("RGB", (16, 16), (10, 20, 30)), "JPEG", quality=95)


def segment(marker: int, payload: bytes) -> bytes:
    return bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload


def after_soi(*parts: bytes) -> bytes:
    return JPEG[:2] + b"".join(parts) + JPEG[2:]


def test_exif_segment_flood_is_refused_before_pillow_in_linear_time():
    # 1000 EXIF APP1 segments, 64 MB: Pillow's parser concatenates them quadratically (~60 s).
    flood = after_soi(segment(0xE1, b"Exif\x00\x00" + bytes(65527)) * 1000)
    assert len(flood) > 64_000_000
    tracemalloc.start()
    with bounded(0.5):
        reason = refusal(flood)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    # 4 segments of 65535 bytes fit in 256 KiB, the 5th does not
    assert reason == "JPEG metadata: over the limit of 256 KiB of EXIF"
    assert peak < 1 * MiB  # the scan copies nothing
    with pytest.raises(ImageError, match=r"^JPEG metadata: over the limit of 256 KiB of EXIF$"):
        probe(flood)


def test_appn_segment_count_and_stray_bytes_are_bounded():
    assert refusal(after_soi(segment(0xE4, b"x") * 300)) == (
        "JPEG metadata: over the limit of 256 APPn/COM segments"
    )
    assert refusal(after_soi(segment(0xFE, b"comment") * 257)) == (
        "JPEG metadata: over the limit of 256 APPn/COM segments"
    )
    stray = "JPEG structure: over the limit of 64 KiB of stray bytes between markers"
    assert refusal(after_soi(b"\xff" * 70_000)) == stray  # fill bytes, one Pillow step each
    assert refusal(after_soi(segment(0xE0, b"JFIF\x00"), b"\x00" * 70_000)) == stray  # junk
    with bounded(1.0):
        assert refusal(after_soi(segment(0xDD, b"\x00\x00") * (MAX_CONTAINER_CHUNKS + 1))) == (
            "JPEG structure: over the limit of 200000 segments before the image data"
        )
        assert refusal(after_soi(b"\xff\xd0" * (MAX_CONTAINER_CHUNKS + 1))) == (
            "JPEG structure: over the limit of 200000 segments before the image data"
        )
    # a little padding, as some writers leave, is fine
    padded = open_image(after_soi(b"\xff" * 4000, segment(0xE5, b"pad"), b"\x00" * 100))
    assert padded.pixels.shape == (16, 16, 3)


def test_jpeg_at_the_metadata_limits_decodes_fast():
    exif = Image.Exif()
    exif[0x0131] = "negate test"
    first = exif.tobytes()  # starts with "Exif\\0\\0"
    exif_segments = [first + bytes(65533 - len(first))] + [b"Exif\x00\x00" + bytes(65527)] * 3
    others = [b"Photoshop 3.0\x00" + bytes(65519)] * 251  # APP13, 64 KiB each; with APP0: 256
    data = after_soi(*[segment(0xE1, p) for p in exif_segments], *[segment(0xED, p) for p in others])
    assert len(data) > 16_000_000
    open_image(JPEG)  # warm up imports
    with bounded(1.0):
        decoded = open_image(data)
    assert decoded.metadata.exif["Software"] == "negate test"
    assert decoded.pixels.shape == (16, 16, 3)
    # one more APPn segment is one too many
    assert refusal(data[:2] + segment(0xEC, b"x") + data[2:]) == (
        "JPEG metadata: over the limit of 256 APPn/COM segments"
    )


# --- PNG --------------------------------------------------------------------------------------------

PNG = encode(Image.new("RGB", (16, 16), (200, 100, 50)), "PNG")


def chunk(ctype: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + ctype + payload + struct.pack(">I", zlib.crc32(ctype + payload))


def before_iend(*chunks: bytes, png: bytes = PNG) -> bytes:
    at = png.rindex(b"IEND") - 4
    return png[:at] + b"".join(chunks) + png[at:]


def test_png_text_chunk_flood_count_and_bytes():
    with bounded(0.5):
        assert refusal(before_iend(*[chunk(b"tEXt", b"k\x00v")] * 300)) == (
            "PNG metadata: over the limit of 256 text and other ancillary chunks"
        )
        assert refusal(before_iend(*[chunk(b"abCd", b"")] * 257)) == (
            "PNG metadata: over the limit of 256 text and other ancillary chunks"
        )
        big = chunk(b"tEXt", b"k\x00" + b"a" * MiB)
        assert refusal(before_iend(*[big] * 17)) == (
            "PNG metadata: over the limit of 16 MiB in text and other ancillary chunks"
        )


@pytest.mark.parametrize(
    "header",
    [b"prompt\x00\x00", b"XML:com.adobe.xmp\x00\x01\x00en\x00\x00"],  # zTXt, compressed iTXt
    ids=["zTXt", "iTXt"],
)
def test_png_compressed_text_bomb_is_refused_by_its_inflated_size(header):
    # 17 chunks of ~1 KiB that inflate to 1 MiB each: 16 fit in the 16 MiB budget, the 17th does not
    ctype = b"zTXt" if header.startswith(b"prompt") else b"iTXt"
    bomb = chunk(ctype, header + zlib.compress(b"a" * MiB, 9))
    data = before_iend(*[bomb] * 17)
    assert len(data) < 40_000
    tracemalloc.start()
    with bounded(0.5):
        reason = refusal(data)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert reason == "PNG metadata: over the limit of 16 MiB of inflated zTXt/iTXt text"
    assert peak < 512 << 10  # inflated in 64 KiB pieces, never a whole chunk
    assert open_image(before_iend(*[bomb] * 2)).metadata.text  # a few are fine


def test_png_chunk_flood_and_chunks_after_iend():
    at = PNG.index(b"IDAT") - 4
    flood = PNG[:at] + chunk(b"IDAT", b"") * (MAX_CONTAINER_CHUNKS + 1) + PNG[at:]
    with bounded(1.0):
        assert refusal(flood) == "PNG structure: over the limit of 200000 chunks"
    # Pillow ignores what follows IEND, and so does every scan of ours (no time spent on it)
    trailing = PNG + chunk(b"tEXt", b"k\x00v") * 1_000_000
    with bounded(1.0):
        assert open_image(trailing).metadata.text == {}


def test_apng_frame_chunks_are_not_metadata():
    frames = [Image.new("RGB", (8, 8), (i, 0, 0)) for i in range(300)]
    data = encode(frames[0], "PNG", save_all=True, append_images=frames[1:])
    assert data.count(b"fcTL") == 300
    decoded = open_image(data)
    assert decoded.metadata.n_frames == 300 and tuple(decoded.pixels[0, 0]) == (0, 0, 0)


def test_png_at_the_metadata_limits_decodes_fast_and_keeps_bounded_strings():
    # 256 tEXt chunks of exactly 64 KiB: 16 MiB, on the limit
    texts = [chunk(b"tEXt", b"k%03d\x00" % i + b"v" * (65536 - 5)) for i in range(256)]
    data = before_iend(*texts)
    open_image(PNG)
    with bounded(1.0):
        decoded = open_image(data)
    assert len(decoded.metadata.text) == 256
    assert {len(v) for v in decoded.metadata.text.values()} == {65531}


def test_kept_metadata_strings_are_capped():
    info = PngInfo()
    info.add_text("comment", "c" * MiB)
    info.add_itxt("XML:com.adobe.xmp", "<x:xmpmeta>" + "x" * MiB)
    decoded = open_image(encode(Image.new("RGB", (16, 16)), "PNG", pnginfo=info))
    assert decoded.metadata.text["comment"] == "c" * MAX_TEXT_CHARS
    assert decoded.metadata.xmp == ("<x:xmpmeta>" + "x" * MiB)[:MAX_XMP_CHARS]
    assert (MAX_TEXT_CHARS, MAX_XMP_CHARS) == (65536, 262144)
    long_key = open_image(before_iend(chunk(b"tEXt", b"K" * 100_000 + b"\x00value")))
    assert long_key.metadata.text == {"K" * 256: "value"}


def test_exif_tags_kept_are_capped():
    unknown = [t for t in range(0xA500, 0xFFFF) if t not in TiffTags.TAGS_V2 and t not in ExifTags.TAGS]
    exif = Image.Exif()
    for tag in unknown[:2000]:
        exif[tag] = "v"
    decoded = open_image(encode(Image.new("RGB", (16, 16)), "JPEG", exif=exif.tobytes()))
    assert len(decoded.metadata.exif) == MAX_EXIF_TAGS == 1024
    assert decoded.metadata.exif[f"0x{unknown[0]:04X}"] == "v"


def test_raw_jumbf_search_is_linear_and_bounded():
    # 12 MiB of "jumb": the old pattern tried 64 positions after every one of them
    decoy = chunk(b"tEXt", b"k\x00" + b"jumb" * (3 * MiB))
    open_image(PNG)
    with bounded(1.0):
        decoded = open_image(before_iend(decoy))
    assert decoded.metadata.has_c2pa is False
    c2pa = chunk(b"tEXt", b"k\x00" + b"\x00\x00\x00\x20jumb\x00\x00\x00\x18jumdc2pa\x00\x11")
    assert open_image(before_iend(c2pa)).metadata.has_c2pa is True


# --- WebP and TIFF ------------------------------------------------------------------------------------


def riff_chunk(fourcc: bytes, payload: bytes) -> bytes:
    return fourcc + struct.pack("<I", len(payload)) + payload + b"\x00" * (len(payload) & 1)


def test_webp_metadata_is_bounded():
    webp = encode(Image.new("RGB", (16, 16), (1, 2, 3)), "WEBP", lossless=True)
    assert refusal(webp + riff_chunk(b"EXIF", b"Exif\x00\x00" + bytes(300 << 10))) == (
        "WebP metadata: over the limit of 256 KiB of EXIF"
    )
    assert refusal(webp + riff_chunk(b"junk", b"x") * 257) == (
        "WebP metadata: over the limit of 256 metadata chunks"
    )
    assert refusal(webp + riff_chunk(b"XMP ", bytes(MiB)) * 17) == (
        "WebP metadata: over the limit of 16 MiB in metadata chunks"
    )


def tiff_chain(pages: int, entries: int = 1, loop: bool = False) -> bytes:
    """A little-endian TIFF whose IFDs each hold ``entries`` ImageWidth tags, chained page to page."""
    out = bytearray(b"II*\x00" + struct.pack("<I", 8))
    for page in range(pages):
        start = len(out)
        size = 2 + 12 * entries + 4
        next_ifd = start if loop else (start + size if page + 1 < pages else 0)
        out += struct.pack("<H", entries) + struct.pack("<HHII", 256, 3, 1, 8) * entries
        out += struct.pack("<I", next_ifd)
    return bytes(out)


def test_tiff_pages_and_tags_are_bounded():
    with bounded(0.5):
        assert refusal(tiff_chain(1025)) == "TIFF structure: over the limit of 1024 pages"
        assert refusal(tiff_chain(2, entries=40_000)) == (
            "TIFF structure: over the limit of 65536 tags in all pages"
        )
        check_structure(tiff_chain(1, loop=True))  # a chain that loops ends the scan
    frames = [Image.new("L", (8, 8), i) for i in range(40)]
    tiff = encode(frames[0], "TIFF", save_all=True, append_images=frames[1:])
    assert open_image(tiff).metadata.n_frames == 40


# --- pixels: row blocks are bit-identical to whole-image conversion ------------------------------------


def reference_to_rgb(im: Image.Image) -> np.ndarray:
    """pixels._to_rgb as it was before row blocks (whole-image conversion), kept as the oracle."""
    if im.mode.startswith("I"):
        raw = np.asarray(im)
        gray = ((np.clip(raw, 0, 65535).astype(np.uint32) + 128) // 257).astype(np.uint8)
        rgb = np.repeat(gray[..., None], 3, axis=2)
        transparent = im.info.get("transparency")
        if isinstance(transparent, int):
            alpha = np.where(raw == transparent, 0, 255).astype(np.uint8)
            return pixels._composite(np.concatenate([rgb, alpha[..., None]], axis=2))
        return rgb
    if im.mode == "F":
        values = np.nan_to_num(np.asarray(im, dtype=np.float32), nan=0.0, posinf=255.0, neginf=0.0)
        if values.size and values.max() <= 1.0:
            values = values * 255.0
        gray = np.rint(np.clip(values, 0, 255)).astype(np.uint8)
        return np.repeat(gray[..., None], 3, axis=2)
    if im.mode == "La":
        im = im.convert("LA")
    if im.has_transparency_data:
        return pixels._composite(np.asarray(im.convert("RGBA")))
    return np.asarray(im if im.mode == "RGB" else im.convert("RGB"))


def random_images() -> list[tuple[str, Image.Image]]:
    rng = np.random.default_rng(7)
    size = (13, 11)

    def raw(mode: str, **info) -> Image.Image:
        im = Image.new(mode, size)
        im.frombytes(rng.integers(0, 256, len(im.tobytes()), dtype=np.uint8).tobytes())
        im.info.update(info)
        return im

    short_palette = raw("P")
    short_palette.putpalette(list(rng.integers(0, 256, 30)))  # 10 entries; indices go to 255
    palette_trns = raw("P", transparency=bytes(rng.integers(0, 256, 200, dtype=np.uint8)))
    palette_trns.putpalette(list(rng.integers(0, 256, 768)))
    palette_index = raw("P", transparency=7)
    palette_index.putpalette(list(rng.integers(0, 256, 768)))
    floats = rng.random((11, 13), dtype=np.float32)
    floats[10, 12] = 1.5  # only the last block is above 1: the scale is the whole image's
    return [
        *[(m, raw(m)) for m in ("1", "L", "RGB", "RGBA", "RGBa", "RGBX", "LA", "La", "PA")],
        *[(m, raw(m)) for m in ("CMYK", "YCbCr", "LAB", "HSV", "I;16", "I;16B")],
        ("P short palette", short_palette),
        ("P alpha bytes", palette_trns),
        ("P index", palette_index),
        ("L trns", raw("L", transparency=3)),
        ("RGB trns", raw("RGB", transparency=(1, 2, 3))),
        ("I;16 trns", raw("I;16", transparency=1000)),
        ("I", Image.fromarray(rng.integers(-9, 70_000, (11, 13)).astype(np.int32))),
        ("F unit", Image.fromarray(rng.random((11, 13), dtype=np.float32))),
        ("F mixed", Image.fromarray(floats)),
        ("F wide", Image.fromarray((rng.random((11, 13)) * 600 - 100).astype(np.float32))),
    ]


@pytest.mark.parametrize("block_pixels", [1, 37, 1 << 20])
def test_row_blocks_are_bit_identical_to_whole_image_conversion(monkeypatch, block_pixels):
    monkeypatch.setattr(pixels, "_BLOCK_PIXELS", block_pixels)
    for name, im in random_images():
        expected = reference_to_rgb(im)
        got = pixels._to_rgb(im)
        assert got.dtype == np.uint8 and got.flags.c_contiguous and got.flags.writeable, name
        np.testing.assert_array_equal(got, expected, err_msg=name)


def one_bit_png(width: int = 10_000, height: int = 9_990) -> bytes:
    """A ~25 KB 1-bit grayscale PNG: rows cycle white, 1010... and black."""
    row_bytes = (width + 7) // 8
    rows = [b"\x00" + b"\xff" * row_bytes, b"\x00" + b"\xaa" * row_bytes, b"\x00" + bytes(row_bytes)]
    raw = b"".join(rows[r % 3] for r in range(height))
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(raw, 9))
        + chunk(b"IEND", b"")
    )


def check_one_bit_pixels(pixels: np.ndarray) -> None:
    assert pixels.shape == (9_990, 10_000, 3)
    for r in (0, 1, 2, 103, 104, 105, 9_987, 9_988, 9_989):  # 104 rows per block at this width
        expected = {0: [255, 255, 255, 255], 1: [255, 0, 255, 0], 2: [0, 0, 0, 0]}[r % 3]
        got = pixels[r, [0, 1, 9_998, 9_999]]
        assert (got == np.array(expected)[:, None]).all(), r
    # 3330 white rows and 3330 half-white rows
    assert int(pixels.sum(dtype=np.int64)) == 3_330 * (10_000 + 5_000) * 255 * 3


def test_one_bit_near_limit_png_holds_one_copy_beyond_the_result():
    data = one_bit_png()
    assert len(data) < 40_000
    open_image(PNG)
    tracemalloc.start()  # numpy and Python allocations (not Pillow's own image memory)
    with bounded(4.0):
        decoded = open_image(data)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    result = decoded.pixels.nbytes  # 300 MB
    assert result == 9_990 * 10_000 * 3
    assert peak < result + 16 * MiB  # before row blocks: twice the result
    check_one_bit_pixels(decoded.pixels)


# VmHWM is this process's own peak RSS; ru_maxrss on Linux also counts the forking parent's.
MEASURE_RSS = """
import re, sys
from negate_sdk.imaging import open_image
def peak():
    return int(re.search(r"VmHWM:\\s+(\\d+)", open("/proc/self/status").read()).group(1))
data = open(sys.argv[1], "rb").read()
open_image(open(sys.argv[2], "rb").read())  # warm up: imports and plugins
before = peak()
pixels = open_image(data).pixels
after = peak()
print((after - before) * 1024, pixels.nbytes)
"""


@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc/self/status")
def test_one_bit_near_limit_png_peak_rss_in_a_fresh_process(tmp_path):
    (tmp_path / "big.png").write_bytes(one_bit_png())
    (tmp_path / "small.png").write_bytes(PNG)
    out = subprocess.run(
        [sys.executable, "-c", MEASURE_RSS, str(tmp_path / "big.png"), str(tmp_path / "small.png")],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    grown, result = map(int, out.split())
    # Pillow's decoded plane (1 byte a pixel) + the result + blocks; before row blocks: ~1.1 GB
    assert grown < result + result // 3 + 64 * MiB


# --- hostile paths ----------------------------------------------------------------------------------------


class BytesPath(os.PathLike):
    """A file name as raw bytes (a plain ``bytes`` source is image data, not a name)."""

    def __init__(self, name: bytes) -> None:
        self.name = name

    def __fspath__(self) -> bytes:
        return self.name


def read_reason(source, **kw) -> str:
    with pytest.raises(ImageError) as info:
        read_bytes(source, **kw)
    assert "\n" not in str(info.value)
    return info.value.reason


def run_with_timeout(fn, seconds: float, unblock=None):
    """Run ``fn`` in a daemon thread; fail (after calling ``unblock``) if it has not returned in time."""
    outcome: dict[str, object] = {}

    def target():
        try:
            outcome["value"] = fn()
        except BaseException as err:
            outcome["error"] = err

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        if unblock:
            unblock()
        pytest.fail(f"blocked for over {seconds} s")
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")


def unblock_fifo(path: Path) -> None:
    """Open the FIFO for writing, which releases a reader blocked in open()."""
    with contextlib.suppress(OSError):
        os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_fifo_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    with bounded(1.0):
        reason = run_with_timeout(lambda: read_reason(fifo), 2.0, lambda: unblock_fifo(fifo))
    assert reason == f"not a regular file (is a FIFO (named pipe)): {fifo}"


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_fifo_swapped_in_after_the_stat_is_refused_by_fstat(tmp_path, monkeypatch):
    # The race: stat saw a regular file, then the path became a FIFO. O_NONBLOCK keeps the open from
    # waiting for a writer, and fstat of the opened descriptor refuses it.
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    regular = os.stat(__file__)
    real_stat = os.stat
    monkeypatch.setattr(os, "stat", lambda p, *a, **k: regular if os.fspath(p) == str(fifo) else real_stat(p))
    reason = run_with_timeout(lambda: read_reason(fifo), 2.0, lambda: unblock_fifo(fifo))
    assert reason == f"not a regular file (is a FIFO (named pipe)): {fifo}"


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="no /dev/zero")
def test_devices_are_refused_before_they_are_opened(monkeypatch):
    opened = []
    real_open = os.open
    monkeypatch.setattr(os, "open", lambda p, *a, **k: opened.append(p) or real_open(p, *a, **k))
    with bounded(0.1):
        assert read_reason("/dev/zero") == "not a regular file (is a character device): /dev/zero"
    assert opened == []


def test_nul_bytes_in_names(tmp_path):
    assert read_reason("bad\x00name.png") == "invalid file name (contains a NUL byte): bad\\x00name.png"
    assert read_reason(BytesPath(b"bad\x00name.png")) == (
        "invalid file name (contains a NUL byte): bad\\x00name.png"
    )
    assert refusal(Path("x\x00.jpg")) == "invalid file name (contains a NUL byte): x\\x00.jpg"


def test_too_long_names(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    name = "a" * 300  # over NAME_MAX (255) on every common file system
    shown = "a" * 79 + ELLIPSIS + "a" * 160  # 240 characters: start and end of the name
    assert read_reason(name) == f"cannot read file: {shown}: file name too long"
    deep = "d/" * 3000 + "x.png"  # over PATH_MAX (4096)
    reason = read_reason(deep)
    assert (
        reason == f"cannot read file: {'d/' * 39 + 'd' + ELLIPSIS + '/d' * 77 + '/x.png'}: file name too long"
    )


def test_unreadable_files_and_folders(tmp_path, monkeypatch):
    path = tmp_path / "secret.png"
    path.write_bytes(PNG)

    def denied(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(os, "open", denied)
    assert read_reason(path) == f"permission denied: {path}"
    monkeypatch.setattr(os, "stat", denied)  # a folder without search permission fails the stat
    assert read_reason(tmp_path / "locked" / "x.png") == f"permission denied: {tmp_path}/locked/x.png"


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root reads anything")
def test_unreadable_files_and_folders_for_real(tmp_path):
    path = tmp_path / "secret.png"
    path.write_bytes(PNG)
    path.chmod(0)
    locked = tmp_path / "locked"
    locked.mkdir()
    (locked / "x.png").write_bytes(PNG)
    locked.chmod(0)
    try:
        assert read_reason(path) == f"permission denied: {path}"
        assert read_reason(locked / "x.png") == f"permission denied: {locked}/x.png"
    finally:
        locked.chmod(stat.S_IRWXU)


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX byte names")
def test_latin1_names_as_bytes_and_as_surrogate_strings(tmp_path):
    folder = os.fsencode(tmp_path)
    latin1 = folder + b"/caf\xe9.png"
    with open(latin1, "wb") as f:
        f.write(PNG)
    as_str = os.fsdecode(latin1)
    assert "\udce9" in as_str
    np.testing.assert_array_equal(open_image(BytesPath(latin1)).pixels, open_image(as_str).pixels)
    shown = f"{tmp_path}/caf\\xe9"
    assert read_reason(BytesPath(folder + b"/caf\xe9.jpg")) == f"file not found: {shown}.jpg"
    assert read_reason(os.fsdecode(folder + b"/caf\xe9.jpg")) == f"file not found: {shown}.jpg"
    os.mkdir(folder + b"/caf\xe9")
    assert read_reason(BytesPath(folder + b"/caf\xe9")) == f"not a file (is a directory): {shown}"
    (failure,) = open_many([BytesPath(folder + b"/caf\xe9.jpg")])
    assert failure == Failure(source=f"{shown}.jpg", reason=f"file not found: {shown}.jpg")
    (failure.reason + failure.source).encode("utf-8")  # printable, valid UTF-8
    assert read_reason("\ud800.png") == "invalid file name (cannot be encoded for the OS): \\ud800.png"


def test_names_with_terminal_escape_codes(tmp_path):
    evil = tmp_path / "\x1b[2J\x1b]0;owned\x07.png"
    evil.write_bytes(b"not an image at all")
    shown = f"{tmp_path}/\\x1b[2J\\x1b]0;owned\\x07.png"
    missing = tmp_path / "\x1b[31mred\n.png"
    failures = list(open_many([evil, missing]))
    assert failures == [
        Failure(source=shown, reason="not a supported image (unrecognised format)"),
        Failure(
            source=f"{tmp_path}/\\x1b[31mred\\n.png", reason=f"file not found: {tmp_path}/\\x1b[31mred\\n.png"
        ),
    ]


def test_growing_or_lying_file_is_cut_at_the_byte_limit(tmp_path, monkeypatch):
    # A file whose stat says 10 bytes but reads on (like /proc files, or one being appended to)
    path = tmp_path / "growing.png"
    path.write_bytes(b"x" * 3000)
    real_fstat = os.fstat

    class Small:
        def __init__(self, st):
            self.st_mode, self.st_size = st.st_mode, 10

    real_stat = os.stat
    monkeypatch.setattr(os, "stat", lambda p: Small(real_stat(p)))
    monkeypatch.setattr(os, "fstat", lambda fd: Small(real_fstat(fd)))
    assert read_reason(path, max_bytes=2048) == f"file is over the 0 MiB limit: {path}"
    assert read_bytes(path, max_bytes=3000) == b"x" * 3000
