"""load_image: every bad input gives a UserError naming the problem; good inputs come out
upright 8-bit RGB with the right colours; default intrinsics follow the documented FOV."""

from __future__ import annotations

import math
import struct
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import ExifTags, Image, ImageFile, JpegImagePlugin
from PIL.TiffImagePlugin import IFDRational

from avatar3d.utils import images
from avatar3d.utils.errors import UserError
from avatar3d.utils.images import (
    BACKGROUND_RGB,
    MIN_SIDE_PX,
    LoadedImage,
    as_loaded_image,
    default_intrinsics,
    describe_file_type,
    load_image,
    sample_image,
)


# --------------------------------------------------------------------------- helpers
def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def raw_png(width: int, height: int, bit_depth: int, colour_type: int, rows: bytes | None = None) -> bytes:
    """A PNG written by hand (Pillow cannot write 16-bit RGB, nor lie about its size)."""
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    idat = zlib.compress(rows if rows is not None else b"\x00" * 64)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b"")


def png16_rgb(pixels: np.ndarray) -> bytes:
    """[H, W, 3] uint16 -> 16-bit RGB PNG bytes."""
    h, w, _ = pixels.shape
    rows = b"".join(b"\x00" + pixels[i].astype(">u2").tobytes() for i in range(h))
    return raw_png(w, h, 16, 2, rows)


def save(tmp_path: Path, name: str, array: np.ndarray, **kwargs) -> Path:
    path = tmp_path / name
    Image.fromarray(array).save(path, **kwargs)
    return path


def expect_error(path: Path, *fragments: str) -> UserError:
    with pytest.raises(UserError) as info:
        load_image(path)
    message = str(info.value).lower()
    for fragment in fragments:
        assert fragment.lower() in message, f"{fragment!r} not in {message!r}"
    assert info.value.hint, "every UserError must say what to do"
    return info.value


@pytest.fixture
def colour_photo(tmp_path) -> Path:
    """A 200x120 JPEG: left half red, right half blue."""
    a = np.zeros((120, 200, 3), np.uint8)
    a[:, :100] = (220, 20, 20)
    a[:, 100:] = (20, 20, 220)
    return save(tmp_path, "photo.jpg", a, quality=95)


# --------------------------------------------------------------------------- bad input
def test_missing_file(tmp_path):
    expect_error(tmp_path / "nope.jpg", "not found", "nope.jpg")


def test_folder_instead_of_file(tmp_path):
    expect_error(tmp_path, "folder")


def test_zero_byte_file(tmp_path):
    path = tmp_path / "empty.jpg"
    path.write_bytes(b"")
    expect_error(path, "empty", "0 bytes")


def test_text_file_named_like_an_image(tmp_path):
    path = tmp_path / "notes.jpg"
    path.write_text("Shopping list:\n- eggs\n- milk\n", encoding="utf-8")
    expect_error(path, "is not an image", "text")


def test_pdf_named_like_an_image(tmp_path):
    path = tmp_path / "scan.png"
    path.write_bytes(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n")
    expect_error(path, "is not an image", "pdf")


def test_mp4_video_given_as_image(tmp_path):
    path = tmp_path / "clip.jpg"
    path.write_bytes(struct.pack(">I", 24) + b"ftypisom\x00\x00\x02\x00isomiso2" + b"\x00\x00\x00\x08free" + bytes(200))
    expect_error(path, "is not an image", "mp4 video")


def test_truncated_jpeg(tmp_path, colour_photo):
    data = colour_photo.read_bytes()
    path = tmp_path / "cut.jpg"
    path.write_bytes(data[: len(data) // 2])
    expect_error(path, "damaged or truncated")


def test_truncated_png(tmp_path):
    rng = np.random.default_rng(0)
    full = save(tmp_path, "full.png", rng.integers(0, 255, (100, 120, 3), dtype=np.uint8))
    path = tmp_path / "cut.png"
    path.write_bytes(full.read_bytes()[:2000])
    expect_error(path, "damaged or truncated")


def test_corrupt_header(tmp_path, colour_photo):
    path = tmp_path / "corrupt.jpg"
    path.write_bytes(colour_photo.read_bytes()[:20])  # JPEG magic, then nothing usable
    expect_error(path, "damaged")


def test_one_pixel_image(tmp_path):
    expect_error(save(tmp_path, "dot.png", np.zeros((1, 1, 3), np.uint8)), "1x1", f"at least {MIN_SIDE_PX}")


def test_thin_image(tmp_path):
    expect_error(save(tmp_path, "strip.png", np.zeros((40, 500, 3), np.uint8)), "500x40")


def test_huge_png_header_is_refused_before_decoding(tmp_path, monkeypatch):
    """A 20000x20000 PNG (1.2 GB of RGB) is refused from its header alone."""
    path = tmp_path / "bomb.png"
    path.write_bytes(raw_png(20000, 20000, 8, 2))

    def no_decoding(self, *args, **kwargs):
        raise AssertionError("pixels were decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decoding)
    start = time.perf_counter()
    expect_error(path, "too large")
    assert time.perf_counter() - start < 1.0


def test_large_non_jpeg_is_refused_before_decoding(tmp_path, monkeypatch):
    """49 MP: under Pillow's own bomb limit, over ours for formats without reduced decoding."""
    path = tmp_path / "big.png"
    path.write_bytes(raw_png(7000, 7000, 8, 2))
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda self: pytest.fail("pixels were decoded"))
    expect_error(path, "7000x7000", "megapixels")


def test_big_jpeg_is_decoded_at_reduced_scale(tmp_path, monkeypatch):
    a = np.zeros((1600, 2400, 3), np.uint8)
    a[:800] = (230, 40, 40)
    a[800:] = (40, 40, 230)
    path = save(tmp_path, "big.jpg", a, quality=90)
    drafts = []
    original = JpegImagePlugin.JpegImageFile.draft

    def spy(self, mode, size):
        result = original(self, mode, size)
        drafts.append(result)
        return result

    monkeypatch.setattr(JpegImagePlugin.JpegImageFile, "draft", spy)
    out = load_image(path, max_pixels=300_000)
    assert drafts and drafts[0] is not None, "the JPEG was not decoded at reduced scale"
    h, w = out.pixels.shape[:2]
    assert h * w <= 300_000
    assert abs(w / h - 1.5) < 0.01
    assert out.source_size == (2400, 1600)
    assert any("downscaled" in note for note in out.warnings)
    assert np.abs(out.pixels[h // 4, w // 2].astype(int) - (230, 40, 40)).max() < 12
    assert np.abs(out.pixels[3 * h // 4, w // 2].astype(int) - (40, 40, 230)).max() < 12


@pytest.mark.parametrize(
    ("head", "fragment"),
    [
        (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00", "heic"),
        (b"\x00\x00\x00\x14ftypqt  \x00\x00\x00\x00", "quicktime"),
        (b"\x1aE\xdf\xa3\x01\x00\x00\x00", "webm"),
        (b"RIFF\x00\x00\x00\x00AVI LIST", "avi"),
        (b"PK\x03\x04\x14\x00", "zip"),
        (b"<?xml version='1.0'?>\n<svg xmlns='http://www.w3.org/2000/svg'>", "svg"),
        (b"\x00\x01\x02\x03\xfe\xff\x80", None),
    ],
)
def test_describe_file_type(head, fragment):
    kind = describe_file_type(head)
    assert (kind is None) if fragment is None else (fragment in kind.lower())


# --------------------------------------------------------------------------- good input
def test_plain_jpeg(colour_photo):
    out = load_image(colour_photo)
    assert isinstance(out, LoadedImage)
    assert out.pixels.shape == (120, 200, 3) and out.pixels.dtype == np.uint8
    assert out.source_size == (200, 120) and out.scale == 1.0
    assert out.pixels[60, 20].tolist() == pytest.approx([220, 20, 20], abs=8)
    assert out.pixels[60, 180].tolist() == pytest.approx([20, 20, 220], abs=8)
    assert out.path == colour_photo and out.warnings == ()


@pytest.mark.parametrize(("orientation", "top", "bottom"), [(6, "red", "blue"), (8, "blue", "red"), (3, None, None)])
def test_exif_orientation_is_applied(tmp_path, orientation, top, bottom):
    """Stored landscape, red left / blue right.  Orientation 6 = rotate 90 deg clockwise to
    view (red ends on top), 8 = counter-clockwise (blue on top), 3 = 180 deg (blue left)."""
    a = np.zeros((100, 200, 3), np.uint8)
    a[:, :100] = (255, 0, 0)
    a[:, 100:] = (0, 0, 255)
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = orientation
    path = save(tmp_path, f"rot{orientation}.jpg", a, exif=exif.tobytes(), quality=95)
    out = load_image(path)
    colours = {"red": (255, 0, 0), "blue": (0, 0, 255)}
    if orientation == 3:
        assert out.pixels.shape == (100, 200, 3)
        assert out.pixels[50, 20].tolist() == pytest.approx(colours["blue"], abs=10)
        assert out.pixels[50, 180].tolist() == pytest.approx(colours["red"], abs=10)
    else:
        assert out.pixels.shape == (200, 100, 3)  # upright: portrait
        assert out.source_size == (100, 200)
        assert out.pixels[20, 50].tolist() == pytest.approx(colours[top], abs=10)
        assert out.pixels[180, 50].tolist() == pytest.approx(colours[bottom], abs=10)


def test_rgba_is_composited_over_grey(tmp_path):
    a = np.zeros((80, 100, 4), np.uint8)
    a[..., :3] = (10, 200, 30)
    a[:, :50, 3] = 255  # left opaque, right fully transparent
    out = load_image(save(tmp_path, "rgba.png", a))
    assert out.pixels[40, 10].tolist() == [10, 200, 30]
    assert out.pixels[40, 90].tolist() == list(BACKGROUND_RGB)
    assert any("transparent" in note for note in out.warnings)


def test_opaque_rgba_has_no_warning(tmp_path):
    a = np.full((80, 100, 4), 255, np.uint8)
    assert load_image(save(tmp_path, "opaque.png", a)).warnings == ()


def test_greyscale_becomes_rgb(tmp_path):
    out = load_image(save(tmp_path, "grey.png", np.full((70, 90), 77, np.uint8)))
    assert out.pixels.shape == (70, 90, 3)
    assert out.pixels[5, 5].tolist() == [77, 77, 77]


def test_16bit_greyscale_is_scaled_not_clipped(tmp_path):
    a = np.zeros((70, 90), np.uint16)
    a[:, 30:60] = 40000
    a[:, 60:] = 65535
    path = tmp_path / "grey16.png"
    Image.fromarray(a).save(path)
    assert Image.open(path).mode.startswith("I")
    out = load_image(path)
    assert out.pixels[5, 5].tolist() == [0, 0, 0]
    assert out.pixels[5, 40].tolist() == [round(40000 / 257)] * 3
    assert out.pixels[5, 80].tolist() == [255, 255, 255]


def test_16bit_rgb_png(tmp_path):
    a = np.zeros((64, 80, 3), np.uint16)
    a[...] = (65535, 32896, 0)
    path = tmp_path / "rgb16.png"
    path.write_bytes(png16_rgb(a))
    out = load_image(path)
    assert out.pixels.shape == (64, 80, 3)
    assert out.pixels[10, 10].tolist() == pytest.approx([255, 128, 0], abs=1)


def test_palette_and_cmyk(tmp_path):
    a = np.full((70, 90, 3), (200, 100, 50), np.uint8)
    palette = tmp_path / "pal.png"
    Image.fromarray(a).convert("P", palette=Image.Palette.ADAPTIVE).save(palette)
    cmyk = tmp_path / "cmyk.jpg"
    Image.fromarray(a).convert("CMYK").save(cmyk, quality=95)
    for path in (palette, cmyk):
        assert load_image(path).pixels[30, 30].tolist() == pytest.approx([200, 100, 50], abs=6)


def test_animated_gif_uses_first_frame(tmp_path):
    frames = [Image.new("RGB", (80, 80), (255, 0, 0)), Image.new("RGB", (80, 80), (0, 255, 0))]
    path = tmp_path / "anim.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:])
    out = load_image(path)
    assert out.pixels[10, 10].tolist() == [255, 0, 0]
    assert any("2 frames" in note for note in out.warnings)


# --------------------------------------------------------------------------- camera
def test_exif_35mm_focal_length(tmp_path):
    path = tmp_path / "f26.jpg"
    exif = Image.Exif()
    exif.get_ifd(ExifTags.IFD.Exif)[0xA405] = 26
    Image.fromarray(np.full((300, 400, 3), 99, np.uint8)).save(path, exif=exif)
    out = load_image(path)
    assert out.exif_focal_35mm == pytest.approx(26.0)
    expected = 26.0 / math.hypot(36, 24) * math.hypot(400, 300)
    assert out.exif_focal_px == pytest.approx(expected)
    assert float(out.intrinsics()[0, 0]) == pytest.approx(expected, rel=1e-6)


def test_exif_focal_from_sensor_resolution(tmp_path):
    """4.3 mm lens on a 6.17 x 4.55 mm sensor (a phone) -> about 24 mm equivalent."""
    exif = Image.Exif()
    ifd = exif.get_ifd(ExifTags.IFD.Exif)
    ifd[0x920A] = IFDRational(43, 10)
    ifd[0xA20E] = IFDRational(round(4000 * 25.4 / 6.17 * 100), 100)
    ifd[0xA20F] = IFDRational(round(3000 * 25.4 / 4.55 * 100), 100)
    ifd[0xA210] = 2
    ifd[0xA002], ifd[0xA003] = 4000, 3000
    path = tmp_path / "phone.jpg"
    Image.fromarray(np.full((300, 400, 3), 99, np.uint8)).save(path, exif=exif)
    out = load_image(path)
    assert out.exif_focal_35mm == pytest.approx(4.3 * math.hypot(36, 24) / math.hypot(6.17, 4.55), rel=1e-3)


def test_cropped_photo_ignores_exif_focal(tmp_path):
    exif = Image.Exif()
    ifd = exif.get_ifd(ExifTags.IFD.Exif)
    ifd[0xA405] = 26
    ifd[0xA002], ifd[0xA003] = 4000, 3000  # the camera's frame was 4:3; this file is 1:1
    path = tmp_path / "cropped.jpg"
    Image.fromarray(np.full((300, 300, 3), 99, np.uint8)).save(path, exif=exif)
    out = load_image(path)
    assert out.exif_focal_35mm is None
    assert any("cropped" in note for note in out.warnings)


def test_no_exif_gives_the_default_focal(colour_photo):
    out = load_image(colour_photo)
    assert out.exif_focal_35mm is None and out.exif_focal_px is None
    assert float(out.intrinsics()[0, 0]) == pytest.approx(35.0 / math.hypot(36, 24) * math.hypot(200, 120), rel=1e-6)


def test_default_intrinsics():
    K = default_intrinsics(512, 768)
    assert K.shape == (3, 3) and K.dtype == torch.float32
    f = 35.0 / math.hypot(36, 24) * math.hypot(512, 768)  # a 35-mm-equivalent lens
    assert torch.allclose(K, torch.tensor([[f, 0, 256], [0, f, 384], [0, 0, 1]], dtype=torch.float32))
    # diagonal field of view of a 35 mm lens on full frame: 2 * atan(21.63 / 35) = 63.4 degrees
    assert math.degrees(2 * math.atan(math.hypot(512, 768) / 2 / f)) == pytest.approx(63.44, abs=0.01)
    # a point on the optical axis projects to the image centre (corner-origin pixel frame)
    uvw = K.double() @ torch.tensor([0.0, 0.0, 2.0], dtype=torch.float64)
    assert (uvw[:2] / uvw[2]).tolist() == pytest.approx([256.0, 384.0])
    K50 = default_intrinsics(512, 768, exif_focal_35mm=50.0, dtype=torch.float64)
    assert K50.dtype == torch.float64
    assert float(K50[0, 0]) == pytest.approx(50 / math.hypot(36, 24) * math.hypot(512, 768))
    with pytest.raises(ValueError):
        default_intrinsics(0, 10)


# --------------------------------------------------------------------------- arrays, samples
def test_as_loaded_image_checks_arrays():
    good = np.zeros((100, 80, 3), np.uint8)
    wrapped = as_loaded_image(good)
    assert wrapped.source_size == (80, 100) and wrapped.name == "the image"
    assert as_loaded_image(torch.from_numpy(good)).pixels.shape == (100, 80, 3)
    with pytest.raises(ValueError, match="uint8"):
        as_loaded_image(np.zeros((100, 80, 3), np.float32))
    with pytest.raises(UserError, match="10x10"):
        as_loaded_image(np.zeros((10, 10, 3), np.uint8))


def test_bundled_samples_load():
    astronaut = load_image(sample_image("astronaut"))
    assert astronaut.pixels.shape == (512, 512, 3)
    full = load_image(sample_image("fullbody"))
    assert full.pixels.shape == (768, 512, 3)
    for name in images.SAMPLE_IMAGES.values():
        assert (images.SAMPLES_DIR / name).stat().st_size < 1_000_000
    with pytest.raises(UserError, match="unknown sample"):
        sample_image("nobody")
