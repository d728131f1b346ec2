"""Tests for negate_sdk.imaging: every image is written by the test itself into tmp_path."""

from __future__ import annotations

import io
import json
import struct
import tracemalloc
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageCms, ImageFile, ImageOps, PngImagePlugin, features

from negate_sdk.imaging import (
    ALLOWED_FORMATS,
    BACKGROUND,
    DEFAULT_MAX_PIXELS,
    MIN_SIDE,
    DecodedImage,
    Failure,
    ImageError,
    ImageInfo,
    estimate_jpeg_quality,
    open_image,
    open_many,
    probe,
    read_bytes,
)

RED, GREEN, BLUE = (255, 0, 0), (0, 255, 0), (0, 0, 255)


@pytest.fixture(autouse=True)
def _restore_pillow_globals(monkeypatch):
    """open_image may raise Pillow's global pixel limit; undo that after each test."""
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", Image.MAX_IMAGE_PIXELS)
    yield
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


# --- helpers -------------------------------------------------------------------------------------


def encode(im: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    return buf.getvalue()


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def png_chunk(ctype: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + ctype + payload + struct.pack(">I", zlib.crc32(ctype + payload))


def insert_before_iend(png: bytes, chunk: bytes) -> bytes:
    iend = png.rindex(b"IEND") - 4
    return png[:iend] + chunk + png[iend:]


def jumbf_c2pa_box() -> bytes:
    """A minimal JUMBF superbox whose description box is labelled as a C2PA manifest store."""
    jumd = b"c2pa" + bytes.fromhex("00110010800000aa00389b71") + b"\x03" + b"c2pa\x00"
    jumd_box = struct.pack(">I", 8 + len(jumd)) + b"jumd" + jumd
    return struct.pack(">I", 8 + len(jumd_box)) + b"jumb" + jumd_box


def solid(color, size=(32, 32), mode="RGB") -> Image.Image:
    return Image.new(mode, size, color)


def reason_of(source, **kw) -> str:
    with pytest.raises(ImageError) as info:
        open_image(source, **kw)
    assert "\n" not in str(info.value)
    assert str(info.value) == info.value.reason
    return info.value.reason


# --- refusals ------------------------------------------------------------------------------------


def test_truncated_jpeg_is_refused(tmp_path):
    rng = np.random.default_rng(0)
    data = encode(Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)), "JPEG", quality=90)
    path = write(tmp_path, "cut.jpg", data[: len(data) // 2])
    reason = reason_of(path)
    assert reason.startswith("corrupt or truncated image: ")
    assert "truncated" in reason


def test_truncated_png_is_refused(tmp_path):
    rng = np.random.default_rng(1)
    data = encode(Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)), "PNG")
    path = write(tmp_path, "cut.png", data[: len(data) // 2])
    assert reason_of(path).startswith("corrupt or truncated image: ")


def test_zero_bytes(tmp_path):
    assert reason_of(write(tmp_path, "empty.png", b"")) == "empty file (0 bytes)"
    assert reason_of(b"") == "empty file (0 bytes)"


def test_missing_file_and_directory(tmp_path):
    missing = tmp_path / "nope.png"
    assert reason_of(missing) == f"file not found: {missing}"
    assert reason_of(tmp_path).startswith("not a file (is a directory)")


def test_text_named_jpg_is_not_an_image(tmp_path):
    path = write(tmp_path, "photo.jpg", b"hello, this is plain text and not a JPEG at all\n" * 10)
    assert reason_of(path) == "not a supported image (unrecognised format)"


@pytest.mark.parametrize(
    "payload",
    [
        b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 100 100\nshowpage\n%%EOF\n",
        b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n",
    ],
)
def test_eps_and_pdf_payloads_are_refused(tmp_path, payload):
    path = write(tmp_path, "x.png", payload)
    assert reason_of(path) == "not a supported image (unrecognised format)"


def test_supported_format_outside_allow_list_is_refused():
    # Pillow can read ICO, but it is not on the allow list.
    data = encode(solid(RED, (16, 16)), "ICO")
    assert Image.open(io.BytesIO(data)).format == "ICO"
    assert reason_of(data) == "not a supported image (unrecognised format)"
    assert "EPS" not in ALLOWED_FORMATS and "PDF" not in ALLOWED_FORMATS


def test_min_side(tmp_path):
    assert reason_of(write(tmp_path, "a.png", encode(solid(RED, (1, 1)), "PNG"))) == (
        "image is 1×1, under the 8 px minimum side"
    )
    assert reason_of(encode(solid(RED, (7, 100)), "PNG")) == "image is 7×100, under the 8 px minimum side"
    decoded = open_image(encode(solid(RED, (8, 8)), "PNG"))
    assert decoded.pixels.shape == (8, 8, 3)
    assert MIN_SIDE == 8
    assert open_image(encode(solid(RED, (4, 4)), "PNG"), min_side=4).pixels.shape == (4, 4, 3)


def huge_png_header(width: int, height: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 16)
    return (
        b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b"")
    )


def test_pixel_bomb_refused_from_header_without_allocating(tmp_path):
    path = write(tmp_path, "bomb.png", huge_png_header(50_000, 50_000))
    open_image(encode(solid(RED), "PNG"))  # warm up: plugin imports are not part of the measurement
    expected = "image is 50000×50000 (2500.0 MP), over the 100.0 MP limit"
    tracemalloc.start()
    try:
        reason = reason_of(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert reason == expected
    assert peak < 5_000_000
    with pytest.raises(ImageError) as info:
        probe(path)
    assert info.value.reason == expected
    assert DEFAULT_MAX_PIXELS == 100_000_000


def test_pixel_limit_below_pillow_error_threshold_gives_our_message_and_no_warning():
    # 150 MP: above our limit but below twice Pillow's limit, where Pillow only warns.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        reason = reason_of(huge_png_header(15_000, 10_000))
    assert reason == "image is 15000×10000 (150.0 MP), over the 100.0 MP limit"


def test_max_pixels_is_configurable():
    data = encode(solid(GREEN, (100, 100)), "PNG")
    assert reason_of(data, max_pixels=5000) == "image is 100×100 (0.01 MP), over the 0.005 MP limit"
    assert open_image(data, max_pixels=20_000).pixels.shape == (100, 100, 3)
    assert probe(data, max_pixels=20_000) == ImageInfo("PNG", "RGB", 100, 100, 1)


def test_raised_max_pixels_raises_pillow_limit():
    Image.MAX_IMAGE_PIXELS = 1000
    decoded = open_image(encode(solid(GREEN, (100, 100)), "PNG"), max_pixels=20_000)
    assert decoded.pixels.shape == (100, 100, 3)
    assert Image.MAX_IMAGE_PIXELS == 20_000


# --- pixel modes ---------------------------------------------------------------------------------


def test_16bit_grayscale_png_is_scaled_not_clipped(tmp_path):
    values = np.array([[0, 257 * 128, 65535, 256, 385, 386, 1000, 30000]], dtype=np.uint16).repeat(8, axis=0)
    im = Image.fromarray(values)
    assert im.mode == "I;16"
    decoded = open_image(write(tmp_path, "g16.png", encode(im, "PNG")))
    assert decoded.metadata.mode.startswith("I")
    expected = np.array([0, 128, 255, 1, 1, 2, 4, 117], dtype=np.uint8)
    for channel in range(3):
        assert decoded.pixels[0, :, channel].tolist() == expected.tolist()


def test_32bit_int_and_float_tiffs():
    ints = Image.fromarray(np.array([[-5, 0, 257 * 200, 70000]] * 8, dtype=np.int32).repeat(2, axis=1))
    assert ints.mode == "I"
    assert open_image(encode(ints, "TIFF")).pixels[0, ::2, 0].tolist() == [0, 0, 200, 255]

    unit = Image.fromarray(np.array([[0.0, 0.5, 1.0, -0.2]] * 8, dtype=np.float32).repeat(2, axis=1))
    assert open_image(encode(unit, "TIFF")).pixels[0, ::2, 1].tolist() == [0, 128, 255, 0]

    wide = Image.fromarray(np.array([[0.0, 10.4, 300.0, 254.6]] * 8, dtype=np.float32).repeat(2, axis=1))
    assert open_image(encode(wide, "TIFF")).pixels[0, ::2, 2].tolist() == [0, 10, 255, 255]


def test_cmyk_jpeg_round_trips():
    decoded = open_image(encode(solid((0, 255, 255, 0), mode="CMYK"), "JPEG", quality=95))
    assert decoded.metadata.mode == "CMYK"
    r, g, b = decoded.pixels[..., 0], decoded.pixels[..., 1], decoded.pixels[..., 2]
    assert r.min() >= 240 and g.max() <= 15 and b.max() <= 15


@pytest.mark.parametrize(
    ("mode", "color", "expected"),
    [
        ("1", 1, (255, 255, 255)),
        ("L", 100, (100, 100, 100)),
        ("RGB", (1, 2, 3), (1, 2, 3)),
        ("CMYK", (0, 0, 255, 0), (255, 255, 0)),
        ("YCbCr", (100, 128, 128), (100, 100, 100)),
        ("LAB", (255, 128, 128), (254, 255, 254)),
        ("LA", (100, 0), BACKGROUND),
        ("I;16B", 65535, (255, 255, 255)),
    ],
)
def test_modes_via_tiff(mode, color, expected):
    decoded = open_image(encode(solid(color, (16, 16), mode), "TIFF"))
    assert decoded.metadata.mode == mode
    assert decoded.pixels.dtype == np.uint8 and decoded.pixels.shape == (16, 16, 3)
    assert decoded.pixels.flags.c_contiguous and decoded.pixels.flags.writeable
    assert np.abs(decoded.pixels.astype(int) - expected).max() <= 1


def test_palette_png_with_transparency():
    im = Image.new("P", (16, 16), 0)
    im.putpalette([*RED, *GREEN, *BLUE] + [0] * (253 * 3))
    im.paste(1, (8, 0, 16, 16))  # right half: index 1, transparent
    im.paste(2, (0, 8, 8, 16))  # bottom-left: index 2
    decoded = open_image(encode(im, "PNG", transparency=1))
    assert decoded.metadata.mode == "P"
    px = decoded.pixels
    assert tuple(px[0, 0]) == RED
    assert tuple(px[12, 4]) == BLUE
    assert tuple(px[0, 12]) == BACKGROUND and tuple(px[12, 12]) == BACKGROUND


def test_palette_png_with_partial_alpha():
    im = Image.new("P", (16, 16), 0)
    im.putpalette([*RED, *GREEN] + [0] * (254 * 3))
    im.paste(1, (8, 0, 16, 16))
    decoded = open_image(encode(im, "PNG", transparency=bytes([255, 64])))
    a = 64 / 255
    assert tuple(decoded.pixels[0, 0]) == RED
    expected = [round(a * c + (1 - a) * 255) for c in GREEN]
    assert np.abs(decoded.pixels[0, 12].astype(int) - expected).max() <= 1


def test_rgba_half_alpha_composited():
    color = (200, 40, 0)
    decoded = open_image(encode(solid((*color, 128), mode="RGBA"), "PNG"))
    a = 128 / 255
    expected = [round(a * c + (1 - a) * 255) for c in color]
    assert np.abs(decoded.pixels[3, 3].astype(int) - expected).max() <= 1
    assert decoded.pixels[3, 3].tolist() == [227, 147, 127]


def test_fully_transparent_and_opaque_rgba_exact():
    im = solid((10, 20, 30, 255), mode="RGBA")
    im.paste((90, 90, 90, 0), (0, 0, 16, 32))
    px = open_image(encode(im, "PNG")).pixels
    assert tuple(px[0, 0]) == BACKGROUND
    assert tuple(px[0, 31]) == (10, 20, 30)


def test_rgb_png_with_trns_color():
    im = solid((10, 20, 30))
    im.paste((1, 2, 3), (0, 0, 16, 32))
    px = open_image(encode(im, "PNG", transparency=(1, 2, 3))).pixels
    assert tuple(px[0, 0]) == BACKGROUND
    assert tuple(px[0, 31]) == (10, 20, 30)


def test_grayscale_pngs_with_trns_value():
    values = np.array([[0, 1000, 65535, 30000]] * 8, dtype=np.uint16).repeat(2, axis=1)
    wide = open_image(encode(Image.fromarray(values), "PNG", transparency=1000))
    assert wide.metadata.mode == "I;16"
    assert wide.pixels[0, ::2, 1].tolist() == [0, 255, 255, 117]
    narrow = open_image(encode(Image.fromarray((values // 257).astype(np.uint8)), "PNG", transparency=3))
    assert narrow.pixels[0, ::2, 1].tolist() == [0, 255, 255, 116]


# --- frames and orientation ----------------------------------------------------------------------


def test_animated_gif_first_frame(tmp_path):
    frames = [solid(c) for c in (RED, GREEN, BLUE)]
    data = encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=50, loop=0)
    decoded = open_image(write(tmp_path, "anim.gif", data))
    assert decoded.metadata.n_frames == 3
    assert decoded.metadata.format == "GIF"
    assert np.all(decoded.pixels == RED)
    assert probe(data).n_frames == 3


def test_animated_png_first_frame():
    frames = [solid(c) for c in (BLUE, RED, GREEN, GREEN)]
    decoded = open_image(encode(frames[0], "PNG", save_all=True, append_images=frames[1:]))
    assert decoded.metadata.n_frames == 4
    assert np.all(decoded.pixels == BLUE)


def test_exif_orientation_6_rotates_jpeg(tmp_path):
    im = solid(BLUE, (64, 32))  # wide: 64 columns, 32 rows
    im.paste(RED, (0, 0, 16, 16))  # red block in the top-left corner
    exif = Image.Exif()
    exif[0x0112] = 6
    decoded = open_image(write(tmp_path, "rot.jpg", encode(im, "JPEG", quality=95, exif=exif.tobytes())))
    assert decoded.metadata.orientation == 6
    assert (decoded.metadata.width, decoded.metadata.height) == (64, 32)  # as stored
    px = decoded.pixels
    assert px.shape == (64, 32, 3) and px.flags.c_contiguous
    # orientation 6 = rotate 90° clockwise: the top-left corner goes to the top-right.
    assert px[4, 27, 0] > 200 and px[4, 27, 2] < 60
    assert px[4, 4, 2] > 200 and px[4, 4, 0] < 60
    assert px[60, 27, 2] > 200


@pytest.mark.parametrize("orientation", range(1, 9))
def test_orientation_matches_pillow_exif_transpose(orientation):
    rng = np.random.default_rng(orientation)
    im = Image.fromarray(rng.integers(0, 256, (12, 20, 3), dtype=np.uint8))
    exif = Image.Exif()
    exif[0x0112] = orientation
    data = encode(im, "PNG", exif=exif.tobytes())
    expected = np.asarray(ImageOps.exif_transpose(Image.open(io.BytesIO(data))).convert("RGB"))
    decoded = open_image(data)
    assert decoded.metadata.orientation == orientation
    assert np.array_equal(decoded.pixels, expected)


# --- metadata ------------------------------------------------------------------------------------


def test_png_text_chunks_including_after_idat():
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", "a cat, Steps: 20, Sampler: Euler")
    info.add_text("zipped", "compressed text " * 20, zip=True)
    info.add_itxt("Description", "ünïcödé", lang="en", tkey="Desc")
    data = encode(solid(RED), "PNG", pnginfo=info)
    late = png_chunk(b"tEXt", b"prompt\x00" + b'{"1": "late"}')
    late_itxt = png_chunk(b"iTXt", b"workflow\x00\x00\x00\x00\x00" + b"after idat")
    text = open_image(insert_before_iend(data, late + late_itxt)).metadata.text
    assert text["parameters"] == "a cat, Steps: 20, Sampler: Euler"
    assert text["zipped"] == "compressed text " * 20
    assert text["Description"] == "ünïcödé"
    assert text["prompt"] == '{"1": "late"}'
    assert text["workflow"] == "after idat"


def test_jpeg_exif_tags_and_comment():
    exif = Image.Exif()
    exif[0x0131] = "Midjourney"  # Software
    exif[0x010F] = "Canon"  # Make
    exif[0x0110] = "EOS 5D"  # Model
    exif.get_ifd(0x8769)[0x9003] = "2024:01:02 03:04:05"  # DateTimeOriginal
    exif.get_ifd(0x8769)[0x927C] = b"M" * 5000  # MakerNote, truncated
    meta = open_image(encode(solid(RED), "JPEG", exif=exif.tobytes(), comment=b"made by hand")).metadata
    assert meta.exif["Software"] == "Midjourney"
    assert meta.exif["Make"] == "Canon"
    assert meta.exif["Model"] == "EOS 5D"
    assert meta.exif["DateTimeOriginal"] == "2024:01:02 03:04:05"
    assert meta.exif["MakerNote"] == "M" * 2000
    assert "ExifOffset" not in meta.exif
    assert meta.text["comment"] == "made by hand"
    assert meta.orientation == 1


XMP = (
    '<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?><x:xmpmeta xmlns:x="adobe:ns:meta/">'
    "<rdf:RDF><rdf:Description>DigitalSourceType trainedAlgorithmicMedia</rdf:Description>"
    '</rdf:RDF></x:xmpmeta><?xpacket end="w"?>'
)


def test_xmp_in_png_and_jpeg():
    info = PngImagePlugin.PngInfo()
    info.add_itxt("XML:com.adobe.xmp", XMP)
    assert "trainedAlgorithmicMedia" in open_image(encode(solid(RED), "PNG", pnginfo=info)).metadata.xmp
    jpeg_meta = open_image(encode(solid(RED), "JPEG", xmp=XMP.encode())).metadata
    assert jpeg_meta.xmp == XMP
    assert open_image(encode(solid(RED), "PNG")).metadata.xmp is None


def test_icc_profile_round_trips():
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    for fmt in ("PNG", "JPEG"):
        meta = open_image(encode(solid(RED), fmt, icc_profile=icc)).metadata
        assert meta.icc_profile == icc
        assert meta.to_dict()["icc_profile_bytes"] == len(icc)
    assert open_image(encode(solid(RED), "PNG")).metadata.icc_profile is None


def test_c2pa_detection_jpeg():
    plain = encode(solid(RED), "JPEG")
    jumbf = jumbf_c2pa_box() + b"\x00" * 32
    payload = b"JP" + b"\x00\x01" + b"\x00\x00\x00\x01" + jumbf
    app11 = b"\xff\xeb" + struct.pack(">H", 2 + len(payload)) + payload
    signed = plain[:2] + app11 + plain[2:]
    decoded = open_image(signed)
    assert decoded.metadata.has_c2pa is True
    assert np.array_equal(decoded.pixels, open_image(plain).pixels)
    assert open_image(plain).metadata.has_c2pa is False


def test_c2pa_detection_png_and_webp():
    png = encode(solid(RED), "PNG")
    assert open_image(png).metadata.has_c2pa is False
    assert open_image(insert_before_iend(png, png_chunk(b"caBX", b"\x00" * 16))).metadata.has_c2pa is True

    webp = encode(solid(RED), "WEBP", lossless=True, exif=Image.Exif().tobytes())  # extended (VP8X) file
    signed = webp + b"C2PA" + struct.pack("<I", 5) + b"\x00" * 6
    signed = signed[:4] + struct.pack("<I", len(signed) - 8) + signed[8:]
    assert open_image(webp).metadata.has_c2pa is False
    assert open_image(signed).metadata.has_c2pa is True


def test_c2pa_raw_jumbf_fallback():
    png = encode(solid(RED), "PNG")
    hidden = insert_before_iend(png, png_chunk(b"teST", jumbf_c2pa_box()))
    assert open_image(hidden).metadata.has_c2pa is True


@pytest.mark.parametrize("quality", [30, 50, 70, 75, 90, 95])
def test_jpeg_quality_estimate(quality):
    rng = np.random.default_rng(quality)
    im = Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8))
    meta = open_image(encode(im, "JPEG", quality=quality)).metadata
    assert abs(meta.jpeg_quality - quality) <= 2


def test_estimate_jpeg_quality_is_order_independent():
    table = Image.open(io.BytesIO(encode(solid(RED), "JPEG", quality=62))).quantization[0]
    assert estimate_jpeg_quality(table) == 62
    assert estimate_jpeg_quality(list(reversed(table))) == 62
    assert estimate_jpeg_quality([1] * 64) == 100
    with pytest.raises(ValueError):
        estimate_jpeg_quality([10] * 10)
    assert open_image(encode(solid(RED), "PNG")).metadata.jpeg_quality is None


def test_metadata_basic_fields_and_json():
    meta = open_image(encode(solid(RED, (40, 24)), "PNG")).metadata
    assert (meta.format, meta.mode, meta.width, meta.height, meta.n_frames) == ("PNG", "RGB", 40, 24, 1)
    d = meta.to_dict()
    assert "icc_profile" not in d and d["icc_profile_bytes"] is None
    assert json.loads(json.dumps(d))["width"] == 40


# --- sources and batches -------------------------------------------------------------------------


def test_bytes_and_path_give_identical_pixels(tmp_path):
    rng = np.random.default_rng(7)
    data = encode(Image.fromarray(rng.integers(0, 256, (30, 40, 3), dtype=np.uint8)), "JPEG", quality=80)
    from_path = open_image(write(tmp_path, "x.jpg", data))
    from_str = open_image(str(tmp_path / "x.jpg"))
    from_bytes = open_image(data)
    assert from_path.pixels.shape == (30, 40, 3)
    assert np.array_equal(from_path.pixels, from_bytes.pixels)
    assert np.array_equal(from_str.pixels, from_bytes.pixels)
    assert from_path.metadata == from_bytes.metadata


def test_format_detected_by_content_not_extension(tmp_path):
    path = write(tmp_path, "really_a_png.jpg", encode(solid(GREEN), "PNG"))
    decoded = open_image(path)
    assert decoded.metadata.format == "PNG" and tuple(decoded.pixels[0, 0]) == GREEN


def test_open_many_keeps_going(tmp_path):
    good = write(tmp_path, "good.png", encode(solid(RED), "PNG"))
    bad = write(tmp_path, "bad.jpg", b"not an image at all")
    results = list(open_many([good, bad, encode(solid(BLUE), "PNG"), b""], max_pixels=10_000))
    assert [type(r) for r in results] == [DecodedImage, Failure, DecodedImage, Failure]
    assert results[1] == Failure(str(bad), "not a supported image (unrecognised format)")
    assert results[3] == Failure("<bytes #3>", "empty file (0 bytes)")
    assert tuple(results[0].pixels[0, 0]) == RED and tuple(results[2].pixels[0, 0]) == BLUE
    too_big = list(open_many([good], max_pixels=100))
    assert isinstance(too_big[0], Failure) and "over the 0.0001 MP limit" in too_big[0].reason


def test_probe_reads_header_only():
    info = probe(encode(solid(RED, (50, 20)), "JPEG"))
    assert info == ImageInfo("JPEG", "RGB", 50, 20, 1)
    with pytest.raises(ImageError, match="under the 8 px minimum side"):
        probe(encode(solid(RED, (5, 50)), "PNG"))
    with pytest.raises(ImageError, match="unrecognised format"):
        probe(b"GIF89a but not really")


def test_wrong_source_type_is_a_type_error():
    with pytest.raises(TypeError):
        open_image(12345)  # type: ignore[arg-type]


def test_multi_frame_tiff_webp_and_mpo():
    frames = [solid(c) for c in (GREEN, RED, BLUE)]
    tiff = open_image(encode(frames[0], "TIFF", save_all=True, append_images=frames[1:]))
    assert (tiff.metadata.n_frames, tuple(tiff.pixels[0, 0])) == (3, GREEN)
    webp = open_image(encode(frames[0], "WEBP", lossless=True, save_all=True, append_images=frames[1:]))
    assert (webp.metadata.n_frames, tuple(webp.pixels[0, 0])) == (3, GREEN)
    mpo = open_image(encode(frames[1], "MPO", save_all=True, append_images=frames[2:], quality=95))
    assert mpo.metadata.format == "MPO" and mpo.metadata.n_frames == 2
    assert mpo.metadata.jpeg_quality == 95
    assert mpo.pixels[5, 5, 0] > 240 and mpo.pixels[5, 5, 2] < 15


def test_gif_comment():
    meta = open_image(encode(solid(RED), "GIF", comment=b"gif comment")).metadata
    assert meta.text == {"comment": "gif comment"}


@pytest.mark.skipif(not features.check("avif"), reason="Pillow built without AVIF")
def test_avif_when_available():
    decoded = open_image(encode(solid((0, 128, 255)), "AVIF", quality=90))
    assert decoded.metadata.format == "AVIF"
    assert np.abs(decoded.pixels[4, 4].astype(int) - (0, 128, 255)).max() <= 8


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "GIF", "WEBP", "BMP", "TIFF"])
def test_mutated_files_only_ever_raise_image_error(fmt):
    rng = np.random.default_rng(42)
    data = encode(Image.fromarray(rng.integers(0, 256, (24, 24, 3), dtype=np.uint8)), fmt)
    refused = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Pillow warns about some malformed headers
        for _ in range(60):
            mutated = bytearray(data[: rng.integers(1, len(data) + 1)])
            for _ in range(rng.integers(0, 6)):
                mutated[rng.integers(0, len(mutated))] = rng.integers(0, 256)
            try:
                decoded = open_image(bytes(mutated))
            except ImageError as err:
                assert "\n" not in err.reason and err.reason
                refused += 1
            else:
                assert decoded.pixels.dtype == np.uint8 and decoded.pixels.ndim == 3
    assert refused > 0


def test_files_over_the_byte_limit_are_refused_before_reading(tmp_path):
    path = tmp_path / "big.png"
    Image.new("RGB", (16, 16), (1, 2, 3)).save(path)
    size = path.stat().st_size
    with pytest.raises(ImageError, match=r"over the 0 MiB limit"):
        read_bytes(path, max_bytes=size - 1)
    assert read_bytes(path, max_bytes=size) == path.read_bytes()
