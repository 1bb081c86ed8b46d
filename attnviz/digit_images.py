"""A drawing or a photo of a digit -> the 28 × 28 picture the digits model reads, MNIST's way.

MNIST digits are bright ink on black, scaled so the longer side of the ink is 20 pixels and
centred by their centre of mass in a 28 × 28 square. A user's picture is brought to that form:
grey levels, dark ink on light paper inverted, the background level taken away, the ink cropped,
scaled and centred. A picture with no ink is refused; one whose "ink" fills most of the square
(a photo, a texture) is read anyway, with a notice that it does not look like a digit.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from attnviz import images
from attnviz.errors import InputError

SIDE = 28
INK_BOX = 20  # the ink's longer side after scaling, as in MNIST
MIN_CONTRAST = 0.15  # ink this much brighter than the background (on 0..1), or it is blank
MAX_INK_SHARE = 0.35  # MNIST digits cover 16 % of their square (99th percentile 28 %)


def grey_levels(image: Image.Image) -> np.ndarray:
    """(H, W) in [0, 1], ink bright: a picture whose background (median) is light is inverted.

    `images.decode` has already put transparent pixels (an empty canvas) on white.
    """
    grey = np.asarray(image.convert("L"), dtype=np.float64) / 255  # (H, W)
    return 1.0 - grey if np.median(grey) > 0.5 else grey


def to_mnist(grey: np.ndarray) -> tuple[np.ndarray, tuple[images.Notice, ...]]:
    """(28, 28) float32 in [0, 1] and notices, from ink-bright grey levels (H, W).

    Raises:
        InputError: error.digit_blank when there is no ink to read.
    """
    ink = np.clip(grey - np.median(grey), 0.0, 1.0)  # the background level taken away
    if ink.max() < MIN_CONTRAST:
        raise InputError("error.digit_blank")
    ink = np.where(ink >= 0.2 * ink.max(), ink / ink.max(), 0.0)  # faint noise dropped
    notices = (
        (images.Notice("notice.digit_not_digit", {}),) if (ink > 0).mean() > MAX_INK_SHARE else ()
    )
    rows, cols = np.nonzero(ink)
    crop = ink[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]
    scale = INK_BOX / max(crop.shape)
    size = (max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale)))
    small = np.asarray(
        Image.fromarray((crop * 255).astype(np.uint8)).resize(size, Image.Resampling.LANCZOS),
        dtype=np.float64,
    )  # (h, w)
    out = np.zeros((SIDE, SIDE))
    h, w = small.shape
    top, left = (SIDE - h) // 2, (SIDE - w) // 2
    out[top : top + h, left : left + w] = small
    # centre of mass to the middle, as MNIST was made (a shift of whole pixels)
    total = out.sum()
    if total > 0:
        cy = (out.sum(axis=1) @ np.arange(SIDE)) / total
        cx = (out.sum(axis=0) @ np.arange(SIDE)) / total
        dy = int(np.clip(round(SIDE / 2 - 0.5 - cy), -top, SIDE - top - h))
        dx = int(np.clip(round(SIDE / 2 - 0.5 - cx), -left, SIDE - left - w))
        out = np.roll(out, (dy, dx), axis=(0, 1))
    return (np.clip(out, 0, 255) / 255).astype(np.float32), notices


def from_bytes(data: bytes) -> tuple[np.ndarray, tuple[images.Notice, ...]]:
    """An uploaded or drawn picture's bytes -> (28, 28) pixel values and notices.

    Raises:
        InputError: every bad file of `images.decode` (not an image, 1 × 1, ...) and no ink.
    """
    image, notices = images.decode_with_notices(data)
    pixels, more = to_mnist(grey_levels(image))
    return pixels, notices + more
