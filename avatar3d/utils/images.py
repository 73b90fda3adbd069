"""Safe photo loading and the default pinhole intrinsics.

:func:`load_image` turns any reasonable photo file into an upright 8-bit RGB array, and turns
everything else into a :class:`~avatar3d.utils.errors.UserError` that names the problem and
says what to do:

* missing / empty / unreadable files, files that are not images (text, PDF, video, audio,
  archives, SVG, ... recognised from their first bytes, never from the file name);
* corrupt or truncated images (Pillow's decoder errors);
* images too small to hold a person (< :data:`MIN_SIDE_PX` on the short side);
* images too large to decode safely: the size is read from the header *before* any pixel is
  decoded.  Over :data:`MAX_SOURCE_PIXELS` is refused; JPEGs are decoded directly at a reduced
  scale (libjpeg DCT scaling via ``Image.draft``), other formats are refused above
  :data:`MAX_DECODE_PIXELS` because they must be decoded at full size.  Pillow's own
  decompression-bomb guard stays on as a second line of defence.

Accepted and normalised: EXIF orientation (the result is upright), RGBA / LA / palette with
transparency (composited over :data:`BACKGROUND_RGB`), greyscale, 1-bit, palette, CMYK and
YCbCr (converted to RGB), 16-bit greyscale (``I;16*``, scaled by 255/65535), 32-bit integer and
float images (scaled to their range), 16-bit RGB(A) PNGs (Pillow keeps the high byte), animated
or multi-page files (first frame, with a warning).  Embedded ICC profiles are ignored (pixels
are taken as sRGB).

Intrinsics (:func:`default_intrinsics`): focal length from the EXIF 35-mm-equivalent focal
length when the photo has one, else :data:`DEFAULT_FOCAL_35MM` (= 43.27 mm, i.e. a focal
length equal to the image diagonal in pixels: 53.1 degrees diagonal field of view, about
41 degrees vertical for a 2:3 portrait photo); principal point at the image centre
``(W/2, H/2)`` in the corner-origin pixel frame of DESIGN.md (pixel (i, j) has its centre at
``(j + 0.5, i + 0.5)``).
"""

from __future__ import annotations

import logging
import math
import struct
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import ExifTags, Image, ImageOps, UnidentifiedImageError

from avatar3d.utils.errors import UserError

log = logging.getLogger(__name__)

#: Smallest accepted short side, in pixels (after EXIF rotation; before any downscaling).
MIN_SIDE_PX = 64
#: Largest accepted image, in pixels (width x height from the header), whatever the format
#: (150 MP, e.g. 15000 x 10000).  Below Pillow's own decompression-bomb error threshold.
MAX_SOURCE_PIXELS = 150_000_000
#: Formats that cannot be decoded at a reduced scale are refused above this (40 MP, about
#: 160 MB of RGBA while decoding).
MAX_DECODE_PIXELS = 40_000_000
#: Working resolution: larger images are downscaled to at most this many pixels (2048 x 2048).
DEFAULT_MAX_PIXELS = 2048 * 2048
#: Files larger than this are refused before reading (no photo is this big).
MAX_FILE_BYTES = 512 * 1024 * 1024
#: Colour that transparent pixels are composited over: a neutral mid grey.
BACKGROUND_RGB = (128, 128, 128)
#: Diagonal of a 36 x 24 mm full-frame sensor: the reference for 35-mm-equivalent focal lengths.
FULL_FRAME_DIAGONAL_MM = math.hypot(36.0, 24.0)
#: Default 35-mm-equivalent focal length when EXIF has none: 35 mm, i.e. focal length = 0.81 x
#: the image diagonal in pixels (63.4 degrees diagonal field of view).  Between a phone's main
#: camera (24-28 mm, often cropped or zoomed) and portrait lenses (50 mm and longer); the
#: fitter is robust to the error either way (a wrong focal length mostly trades depth for size).
DEFAULT_FOCAL_35MM = 35.0
#: EXIF 35-mm-equivalent focal lengths outside this range are treated as garbage and ignored.
PLAUSIBLE_FOCAL_35MM = (8.0, 1200.0)
#: Formats Pillow can decode at 1/2, 1/4 or 1/8 scale without decoding the full image.
DRAFT_FORMATS = ("JPEG", "MPO")

#: Where the bundled sample photos live (a source checkout or editable install).
SAMPLES_DIR = Path(__file__).resolve().parents[2] / "assets" / "samples"
SAMPLE_IMAGES = {"astronaut": "astronaut.png", "fullbody": "person_fullbody.png"}

_HINT_PHOTO = "give a JPEG or PNG photo of one person"
_EXIF_FOCAL_35MM = 0xA405
_EXIF_FOCAL_LENGTH = 0x920A
_EXIF_FOCAL_PLANE_X_RES = 0xA20E
_EXIF_FOCAL_PLANE_Y_RES = 0xA20F
_EXIF_FOCAL_PLANE_UNIT = 0xA210
_EXIF_IMAGE_WIDTH = 0xA002
_EXIF_IMAGE_HEIGHT = 0xA003
_MM_PER_UNIT = {2: 25.4, 3: 10.0, 4: 1.0, 5: 0.001}  # EXIF FocalPlaneResolutionUnit
_ROTATING_ORIENTATIONS = (5, 6, 7, 8)  # EXIF orientations that swap width and height
# What Pillow's decoders raise for damaged files (SyntaxError for broken headers).
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, struct.error, zlib.error)


@dataclass(frozen=True)
class LoadedImage:
    """A photo ready for perception.

    Attributes:
        pixels: ``[H, W, 3]`` uint8 RGB, upright (EXIF orientation applied), possibly
            downscaled from the source to the working resolution.
        source_size: (width, height) of the upright source image in pixels, before downscaling.
        exif_focal_35mm: the 35-mm-equivalent focal length (mm) from EXIF, or None.
        path: the file it came from (None for in-memory arrays).
        warnings: human-readable notes about what was done (downscaled, alpha dropped, ...).
    """

    pixels: np.ndarray
    source_size: tuple[int, int]
    exif_focal_35mm: float | None = None
    path: Path | None = None
    warnings: tuple[str, ...] = ()

    @property
    def width(self) -> int:
        return int(self.pixels.shape[1])

    @property
    def height(self) -> int:
        return int(self.pixels.shape[0])

    @property
    def scale(self) -> float:
        """Working pixels per source pixel (1.0 unless the source was downscaled)."""
        return self.width / self.source_size[0]

    @property
    def name(self) -> str:
        """How messages refer to this image (the file name, or "the image")."""
        return str(self.path) if self.path is not None else "the image"

    @property
    def exif_focal_px(self) -> float | None:
        """The EXIF focal length in pixels of ``pixels`` (None without EXIF focal length)."""
        if self.exif_focal_35mm is None:
            return None
        return focal_px_from_35mm(self.exif_focal_35mm, self.width, self.height)

    def intrinsics(self, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """``[3, 3]`` K for ``pixels``: EXIF focal length if known, else the default."""
        return default_intrinsics(self.width, self.height, self.exif_focal_35mm, dtype=dtype)


def focal_px_from_35mm(focal_35mm: float, width: int, height: int) -> float:
    """Focal length in pixels of a ``width`` x ``height`` image whose 35-mm-equivalent focal
    length is ``focal_35mm`` (equivalence by the diagonal, as cameras report it)."""
    return focal_35mm / FULL_FRAME_DIAGONAL_MM * math.hypot(width, height)


def default_intrinsics(
    width: int, height: int, exif_focal_35mm: float | None = None, dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """``[3, 3]`` pinhole intrinsics K (pixels) for a ``width`` x ``height`` photo.

    fx = fy = the focal length from ``exif_focal_35mm`` when given, else from
    :data:`DEFAULT_FOCAL_35MM` (35 mm: focal = 0.81 x the image diagonal, 63.4 degrees diagonal FOV);
    (cx, cy) = (W/2, H/2): the image centre in the corner-origin pixel frame (pixel (i, j) has
    its centre at (j + 0.5, i + 0.5)).  Square pixels, no skew.
    """
    if width <= 0 or height <= 0:
        raise ValueError(f"image size must be positive, got {width}x{height}")
    f35 = DEFAULT_FOCAL_35MM if exif_focal_35mm is None else float(exif_focal_35mm)
    if not f35 > 0:
        raise ValueError(f"exif_focal_35mm must be positive, got {exif_focal_35mm}")
    f = focal_px_from_35mm(f35, width, height)
    return torch.tensor([[f, 0.0, width / 2.0], [0.0, f, height / 2.0], [0.0, 0.0, 1.0]], dtype=dtype)


def sample_image(name: str = "astronaut") -> Path:
    """Path of a bundled sample photo: "astronaut" (half body, NASA, public domain) or
    "fullbody" (a rendered full-body person made by scripts/make_sample_photo.py)."""
    if name not in SAMPLE_IMAGES:
        raise UserError(f"unknown sample image {name!r}", f"choose one of {sorted(SAMPLE_IMAGES)}")
    path = SAMPLES_DIR / SAMPLE_IMAGES[name]
    if not path.is_file():
        raise UserError(
            f"the bundled sample photo {path} is missing",
            "give an image path explicitly (the samples ship in the source checkout's assets/samples/)",
        )
    return path


# --------------------------------------------------------------------------- sniffing
def describe_file_type(head: bytes) -> str | None:
    """What a non-image file looks like from its first bytes ("a PDF document", "an MP4/MOV
    video", "a text file", ...), or None when nothing is recognised."""
    if head.startswith(b"%PDF") or b"%PDF-" in head[:1024]:
        return "a PDF document"
    if len(head) >= 12 and head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in (b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1"):
            return "a HEIC/HEIF photo, which this installation cannot decode (convert it to JPEG)"
        if brand in (b"avif", b"avis"):
            return "an AVIF image, which this installation cannot decode (convert it to JPEG or PNG)"
        if brand.startswith(b"qt"):
            return "a QuickTime/MOV video"
        if brand.startswith(b"3g"):
            return "a 3GP video"
        if brand.startswith(b"M4A"):
            return "an M4A audio file"
        return "an MP4 video"
    if head.startswith(b"RIFF") and head[8:12] == b"AVI ":
        return "an AVI video"
    if head.startswith(b"RIFF") and head[8:12] == b"WAVE":
        return "a WAV audio file"
    if head.startswith(b"\x1aE\xdf\xa3"):
        return "a WebM/Matroska video"
    if head.startswith(b"FLV"):
        return "an FLV video"
    if head.startswith((b"\x00\x00\x01\xba", b"\x00\x00\x01\xb3")) or (len(head) > 188 and head[0] == 0x47 and head[188] == 0x47):
        return "an MPEG video"
    if head.startswith(b"OggS"):
        return "an Ogg audio/video file"
    if head.startswith(b"ID3") or head[:2] in (b"\xff\xfb", b"\xff\xf3", b"\xff\xf2"):
        return "an MP3 audio file"
    if head.startswith(b"fLaC"):
        return "a FLAC audio file"
    if head.startswith(b"PK\x03\x04"):
        return "a ZIP archive (or an Office document)"
    if head.startswith(b"\x1f\x8b"):
        return "a gzip archive"
    if head.startswith(b"7z\xbc\xaf"):
        return "a 7-Zip archive"
    if head.startswith(b"Rar!"):
        return "a RAR archive"
    if head.startswith(b"\x7fELF") or head.startswith(b"MZ"):
        return "a program (executable)"
    if head.startswith(b"glTF"):
        return "a glTF/GLB 3D model"
    if head.startswith(b"8BPS"):
        return "a Photoshop document (PSD)"
    text = _as_text(head)
    if text is not None:
        low = text.lstrip("\ufeff \t\r\n").lower()
        if low.startswith("<svg") or (low.startswith("<?xml") and "<svg" in low):
            return "an SVG vector drawing"
        if low.startswith(("<!doctype html", "<html")):
            return "an HTML page"
        if low.startswith(("{", "[")):
            return "a JSON/text file"
        if low.startswith("ply\n") or low.startswith("ply\r\n"):
            return "a PLY 3D model"
        return "a text file"
    return None


def _as_text(head: bytes) -> str | None:
    if not head or b"\x00" in head:
        return None
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:  # a multibyte character cut at the end is fine
            return None
        text = head[: exc.start].decode("utf-8")
    printable = sum(ch.isprintable() or ch in "\t\r\n\f" for ch in text)
    return text if printable >= 0.95 * max(len(text), 1) else None


# --------------------------------------------------------------------------- loading
def load_image(path: str | Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> LoadedImage:
    """Load a photo as upright uint8 RGB, refusing anything unsafe or unusable.

    Args:
        path: the image file (JPEG, PNG, WebP, TIFF, BMP, GIF, ... anything Pillow reads).
        max_pixels: working resolution; larger images are downscaled (keeping the aspect
            ratio) to at most this many pixels.  JPEGs are decoded at reduced scale directly.

    Returns:
        a :class:`LoadedImage` (``pixels`` ``[H, W, 3]`` uint8 RGB).

    Raises:
        UserError: the file is missing, empty, not an image, damaged, too small or too large;
            the message names the file and the problem, the hint what to do.
    """
    if max_pixels < MIN_SIDE_PX * MIN_SIDE_PX:
        raise ValueError(f"max_pixels must be at least {MIN_SIDE_PX * MIN_SIDE_PX}, got {max_pixels}")
    path = Path(path).expanduser()
    head = _read_head(path)
    notes: list[str] = []
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # we check sizes ourselves
            with Image.open(path) as im:
                return _decode(im, path, head, max_pixels, notes)
    except UserError:
        raise
    except Image.DecompressionBombError:
        raise UserError(
            f"{path} is too large to load safely (a decompression bomb or a giant image)",
            f"give a photo under {MAX_SOURCE_PIXELS // 1_000_000} megapixels",
        ) from None
    except UnidentifiedImageError:
        kind = describe_file_type(head)
        if kind is not None:
            raise UserError(f"{path} is not an image (it looks like {kind})", _HINT_PHOTO) from None
        if _looks_like_image(head):
            raise UserError(
                f"{path} is damaged: it starts like an image but cannot be decoded",
                "re-export or re-download the photo, or " + _HINT_PHOTO,
            ) from None
        raise UserError(f"{path} is not a recognised image format", _HINT_PHOTO) from None
    except MemoryError:
        raise UserError(f"not enough memory to decode {path}", "give a smaller photo (a few megapixels is plenty)") from None
    except _DECODE_ERRORS as exc:
        raise UserError(
            f"{path} is damaged or truncated and cannot be decoded ({type(exc).__name__}: {exc})",
            "re-export or re-download the photo, or " + _HINT_PHOTO,
        ) from None


def _read_head(path: Path) -> bytes:
    if not path.exists():
        raise UserError(f"image file not found: {path}", "check the path and the spelling of the file name")
    if path.is_dir():
        raise UserError(f"{path} is a folder, not an image file", "give the path of a single photo")
    try:
        size = path.stat().st_size
        with path.open("rb") as handle:
            head = handle.read(2048)
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc.strerror or exc}", "check the file's permissions") from None
    if size == 0:
        raise UserError(f"{path} is empty (0 bytes)", "the file was not saved or copied completely; " + _HINT_PHOTO)
    if size > MAX_FILE_BYTES:
        raise UserError(
            f"{path} is {size / 2**20:.0f} MiB, too large for a photo (limit {MAX_FILE_BYTES // 2**20} MiB)",
            "give a JPEG or PNG photo of a few megapixels",
        )
    return head


def _looks_like_image(head: bytes) -> bool:
    return head.startswith((b"\xff\xd8\xff", b"\x89PNG", b"GIF8", b"BM", b"II*\x00", b"MM\x00*")) or (
        head.startswith(b"RIFF") and head[8:12] == b"WEBP"
    )


def _decode(im: Image.Image, path: Path, head: bytes, max_pixels: int, notes: list[str]) -> LoadedImage:
    raw_w, raw_h = im.size
    fmt = im.format or "image"
    # Sizes first, from the header alone: some formats (PNG) decode everything to read EXIF.
    if raw_w <= 0 or raw_h <= 0:
        raise UserError(f"{path} has zero size ({raw_w}x{raw_h} pixels)", _HINT_PHOTO)
    if min(raw_w, raw_h) < MIN_SIDE_PX:
        raise UserError(
            f"{path} is only {raw_w}x{raw_h} pixels; need at least {MIN_SIDE_PX} px on the short side",
            "give a larger photo (a person needs a few hundred pixels to be fitted well)",
        )
    n_pixels = raw_w * raw_h
    if n_pixels > MAX_SOURCE_PIXELS:
        raise UserError(
            f"{path} is {raw_w}x{raw_h} = {n_pixels / 1e6:.0f} megapixels, over the limit of "
            f"{MAX_SOURCE_PIXELS / 1e6:.0f} megapixels",
            "downscale the photo (a few megapixels is plenty) and try again",
        )
    can_draft = fmt in DRAFT_FORMATS
    if n_pixels > MAX_DECODE_PIXELS and not can_draft:
        raise UserError(
            f"{path} is a {raw_w}x{raw_h} {fmt} ({n_pixels / 1e6:.0f} megapixels); {fmt} images over "
            f"{MAX_DECODE_PIXELS / 1e6:.0f} megapixels are not decoded (they need full-size decoding)",
            "downscale it or save it as JPEG, which is decoded at reduced size",
        )
    exif = _safe_exif(im)
    orientation = exif.get(ExifTags.Base.Orientation, 1) if exif is not None else 1
    src_w, src_h = (raw_h, raw_w) if orientation in _ROTATING_ORIENTATIONS else (raw_w, raw_h)
    frames = getattr(im, "n_frames", 1)
    if frames > 1:
        notes.append(f"{path.name} has {frames} frames (animation or multi-page); the first one is used")
    if can_draft and n_pixels > max_pixels:
        scale = math.sqrt(max_pixels / n_pixels)
        im.draft(im.mode, (max(1, math.ceil(raw_w * scale)), max(1, math.ceil(raw_h * scale))))
    im.load()
    if orientation != 1:
        try:
            im = ImageOps.exif_transpose(im)
        except Exception as exc:  # a broken EXIF block must not lose the photo
            notes.append(f"could not apply the EXIF orientation ({exc}); the image is used as stored")
    rgb, alpha_note = _to_rgb8(im)
    if alpha_note:
        notes.append(alpha_note)
    height, width = rgb.shape[:2]
    if width * height > max_pixels:
        scale = math.sqrt(max_pixels / (width * height))
        size = (max(1, int(width * scale)), max(1, int(height * scale)))
        rgb = np.asarray(Image.fromarray(rgb).resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0))
    if rgb.shape[1] != src_w:
        notes.append(f"downscaled from {src_w}x{src_h} to {rgb.shape[1]}x{rgb.shape[0]} pixels for processing")
    focal = _exif_focal_35mm(exif, raw_w, raw_h, notes)
    return LoadedImage(
        pixels=np.ascontiguousarray(rgb),
        source_size=(src_w, src_h),
        exif_focal_35mm=focal,
        path=path,
        warnings=tuple(notes),
    )


def _safe_exif(im: Image.Image) -> Image.Exif | None:
    try:
        return im.getexif()
    except Exception:  # damaged EXIF: ignore it, keep the pixels
        return None


def _to_rgb8(im: Image.Image) -> tuple[np.ndarray, str | None]:
    """uint8 ``[H, W, 3]`` from any Pillow mode, plus a note when transparency was flattened."""
    mode = im.mode
    if mode.startswith("I;16") or mode in ("I", "F"):
        values = np.asarray(im).astype(np.float64)
        values = np.nan_to_num(values, nan=0.0, posinf=0.0, neginf=0.0)
        if mode.startswith("I;16"):
            top = 65535.0
        else:
            peak = float(values.max()) if values.size else 0.0
            lowest = float(values.min()) if values.size else 0.0
            if mode == "F" and peak <= 1.0 and lowest >= 0.0:
                top = 1.0
            elif peak <= 255.0:
                top = 255.0
            elif peak <= 65535.0:
                top = 65535.0
            else:
                top = peak
            values = np.clip(values, 0.0, None)
        grey = np.clip(np.rint(values * (255.0 / top)), 0, 255).astype(np.uint8)
        return np.repeat(grey[..., None], 3, axis=2), None
    has_alpha = mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in im.info
    if has_alpha:
        rgba = im.convert("RGBA")
        alpha = np.asarray(rgba.getchannel("A"))
        if int(alpha.min()) < 255:
            base = Image.new("RGBA", rgba.size, BACKGROUND_RGB + (255,))
            flat = np.asarray(Image.alpha_composite(base, rgba).convert("RGB"))
            return flat, "transparent areas were filled with neutral grey"
        return np.asarray(rgba.convert("RGB")), None
    try:
        return np.asarray(im.convert("RGB")), None
    except ValueError:
        raise UserError(
            f"images in the {mode} colour mode are not supported", "save the photo as an RGB JPEG or PNG"
        ) from None


def _exif_focal_35mm(exif: Image.Exif | None, raw_w: int, raw_h: int, notes: list[str]) -> float | None:
    """35-mm-equivalent focal length (mm) from EXIF, or None when absent or not trustworthy."""
    if exif is None:
        return None
    try:
        ifd = exif.get_ifd(ExifTags.IFD.Exif)
    except Exception:
        return None
    focal = _positive(ifd.get(_EXIF_FOCAL_35MM))
    if focal is None:
        focal = _focal_35mm_from_sensor(ifd, raw_w, raw_h)
    if focal is None:
        return None
    lo, hi = PLAUSIBLE_FOCAL_35MM
    if not lo <= focal <= hi:
        notes.append(f"EXIF focal length {focal:.0f} mm (35-mm equivalent) is implausible; the default is used")
        return None
    exif_w, exif_h = _positive(ifd.get(_EXIF_IMAGE_WIDTH)), _positive(ifd.get(_EXIF_IMAGE_HEIGHT))
    if exif_w and exif_h and abs(exif_w / exif_h - raw_w / raw_h) > 0.02 * (raw_w / raw_h):
        notes.append("the photo seems cropped (its size disagrees with EXIF); the EXIF focal length is ignored")
        return None
    return focal


def _focal_35mm_from_sensor(ifd: dict, raw_w: int, raw_h: int) -> float | None:
    focal_mm = _positive(ifd.get(_EXIF_FOCAL_LENGTH))
    x_res = _positive(ifd.get(_EXIF_FOCAL_PLANE_X_RES))
    if focal_mm is None or x_res is None:
        return None
    y_res = _positive(ifd.get(_EXIF_FOCAL_PLANE_Y_RES)) or x_res
    mm_per_unit = _MM_PER_UNIT.get(int(ifd.get(_EXIF_FOCAL_PLANE_UNIT, 2) or 2))
    if mm_per_unit is None:
        return None
    width = _positive(ifd.get(_EXIF_IMAGE_WIDTH)) or raw_w
    height = _positive(ifd.get(_EXIF_IMAGE_HEIGHT)) or raw_h
    sensor_diag_mm = math.hypot(width / x_res * mm_per_unit, height / y_res * mm_per_unit)
    if not sensor_diag_mm > 0:
        return None
    return focal_mm * FULL_FRAME_DIAGONAL_MM / sensor_diag_mm


def _positive(value: object) -> float | None:
    try:
        number = float(value)  # IFDRational, int, float
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    return number if math.isfinite(number) and number > 0 else None


def as_loaded_image(image: LoadedImage | np.ndarray | torch.Tensor) -> LoadedImage:
    """Wrap an in-memory ``[H, W, 3]`` uint8 RGB array (numpy or torch) as a LoadedImage."""
    if isinstance(image, LoadedImage):
        return image
    if isinstance(image, torch.Tensor):
        image = image.detach().cpu().numpy()
    if not isinstance(image, np.ndarray):
        raise ValueError(f"image must be a LoadedImage or an [H, W, 3] uint8 array, got {type(image).__name__}")
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"image array must be [H, W, 3] uint8 RGB, got shape {list(image.shape)} dtype {image.dtype}")
    h, w = image.shape[:2]
    if min(h, w) < MIN_SIDE_PX:
        raise UserError(
            f"the image is only {w}x{h} pixels; need at least {MIN_SIDE_PX} px on the short side",
            "give a larger photo",
        )
    return LoadedImage(pixels=np.ascontiguousarray(image), source_size=(w, h))
