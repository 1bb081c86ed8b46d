"""The bad-input matrix of image uploads, and the model's 224 x 224 input (no model needed).

Every file is built in memory; nothing is read from or written to disk.
"""

from __future__ import annotations

import builtins
import io
import os
import struct
import tempfile
import tomllib
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFile

from attnviz import images
from attnviz.errors import InputError
from attnviz.i18n import LANGS, t

RED, BLUE = (255, 0, 0), (0, 0, 255)


def encode(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png(width: int, height: int, depth: int, colour: int, idat: bytes) -> bytes:
    """A PNG written by hand: signature, IHDR, one IDAT, IEND."""
    ihdr = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")
    )


def bomb(side: int) -> bytes:
    """A valid 1-bit PNG of side x side black pixels: ~100 KB that would decode to side² pixels.

    Rows are compressed in batches, so building it never holds the raw image in memory.
    """
    row = b"\x00" * (1 + (side + 7) // 8)  # filter byte + packed bits
    packer = zlib.compressobj(9)
    parts = [packer.compress(row * 1000) for _ in range(side // 1000)]
    parts.append(packer.compress(row * (side % 1000)) + packer.flush())
    return png(side, side, 1, 0, b"".join(parts))


def halves(width: int = 40, height: int = 20) -> Image.Image:
    """Left half red, right half blue."""
    pixels = np.zeros((height, width, 3), np.uint8)
    pixels[:, : width // 2] = RED
    pixels[:, width // 2 :] = BLUE
    return Image.fromarray(pixels)


def photo(width: int = 120, height: int = 80, seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))


def refused(data: bytes) -> InputError:
    with pytest.raises(InputError) as err:
        images.decode(data)
    # Every refusal reads as a sentence in both languages, its fields filled in.
    for lang in LANGS:
        message = t(err.value.key, lang, **err.value.params)
        assert "{" not in message and len(message) > 10
    return err.value


# --- refused -------------------------------------------------------------------------------


def test_empty_file():
    assert refused(b"").key == "error.image_empty"


@pytest.mark.parametrize(
    "data",
    [b"hello, this is text and not a picture", b"%PDF-1.4\n" + b"\x00" * 200, bytes(range(256))],
)
def test_bytes_that_are_not_an_image(data):
    assert refused(data).key == "error.image_not_image"


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP", "BMP", "TIFF", "GIF"])
def test_truncated_file(fmt):
    data = encode(photo(), fmt)
    assert refused(data[: len(data) // 2]).key in ("error.image_truncated", "error.image_broken")


def test_header_only_png_is_refused():
    data = png(64, 64, 8, 2, b"")  # a valid header, no pixel data
    assert refused(data).key in ("error.image_truncated", "error.image_broken")


@pytest.mark.parametrize("side", [30_000, 10_000, 8_000])
def test_decompression_bomb_refused_before_decoding(side, monkeypatch):
    # 30 000² trips Pillow's own error, 10 000² its warning, 8 000² (64 MP) only our limit.
    data = bomb(side)
    assert len(data) < 200_000

    def no_decoding(self):
        raise AssertionError("pixels were decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decoding)
    with pytest.raises(AssertionError, match="decoded"):  # the trap works on a normal PNG
        images.decode(encode(photo(), "PNG"))
    if side == 10_000:  # Pillow's warning is left to reach the server log
        with pytest.warns(Image.DecompressionBombWarning):
            error = refused(data)
    else:
        error = refused(data)
    assert error.key == "error.image_too_many_pixels"
    assert error.params["limit"] == images.MAX_PIXELS


def test_decompression_bomb_with_a_stub_body_is_still_refused_by_size():
    # The header alone decides: a decoder would have found the body missing instead.
    assert refused(png(30_000, 30_000, 1, 0, b"")).key == "error.image_too_many_pixels"


def test_upload_over_the_limit():
    data = encode(photo(), "PNG")
    error = refused(data + b"\x00" * (images.MAX_BYTES + 1 - len(data)))
    assert error.key == "error.image_file_too_big"
    assert error.params["limit"] == images.UPLOAD_LIMIT_MB


@pytest.mark.parametrize("size", [(1, 1), (13, 200), (200, 13)])
def test_too_small(size):
    error = refused(encode(Image.new("RGB", size, RED), "PNG"))
    assert error.key == "error.image_too_small"
    assert (error.params["width"], error.params["height"]) == size


@pytest.mark.parametrize("size", [(2000, 20), (20, 2000), (14 * 16 + 1, 14)])
def test_extreme_aspect_ratio(size):
    assert refused(encode(Image.new("RGB", size, RED), "PNG")).key == "error.image_aspect"


# --- accepted, converted to RGB --------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP", "GIF", "BMP", "TIFF"])
def test_every_format_decodes_to_rgb(fmt):
    image = halves(60, 30)
    out, notices = images.decode_with_notices(encode(image, fmt))
    assert out.mode == "RGB" and out.size == (60, 30) and notices == ()
    pixels = np.asarray(out, dtype=int)
    assert np.abs(pixels[15, 5] - RED).max() < 40 and np.abs(pixels[15, 55] - BLUE).max() < 40


@pytest.mark.parametrize("size", [(14, 14), (14 * 16, 14), (14, 14 * 16)])
def test_edge_sizes_are_accepted(size):
    assert images.decode(encode(Image.new("RGB", size, RED), "PNG")).size == size


@pytest.mark.parametrize("fmt", ["GIF", "PNG", "WEBP", "TIFF"])
def test_animated_or_multipage_gives_first_frame_and_says_so(fmt):
    first, second = Image.new("RGB", (32, 32), RED), Image.new("RGB", (32, 32), BLUE)
    data = encode(first, fmt, save_all=True, append_images=[second])
    out, notices = images.decode_with_notices(data)
    assert [n.key for n in notices] == ["notice.image_first_frame"]
    assert np.abs(np.asarray(out, dtype=int)[16, 16] - RED).max() < 30
    for lang in LANGS:
        assert notices[0].params["format"] in t(notices[0].key, lang, **notices[0].params)


def test_phone_mpo_jpeg_is_one_photo():
    first, depth = Image.new("RGB", (32, 32), RED), Image.new("RGB", (32, 32), BLUE)
    out, notices = images.decode_with_notices(
        encode(first, "MPO", save_all=True, append_images=[depth])
    )
    assert notices == ()
    assert np.abs(np.asarray(out, dtype=int)[16, 16] - RED).max() < 30


def test_greyscale_16_bit_png_is_scaled_not_clipped():
    values = np.array([[0, 257 * 64, 257 * 128, 65535]], np.uint16).repeat(4, 0).repeat(4, 1)
    image = Image.fromarray(np.tile(values, (4, 1)))  # (16, 16) 16-bit greyscale
    assert image.mode == "I;16"
    for fmt in ("PNG", "TIFF"):
        out = np.asarray(images.decode(encode(image, fmt)))
        assert out.shape == (16, 16, 3)
        assert out[0, ::4, 0].tolist() == [0, 64, 128, 255]


def test_rgb_16_bit_png():
    # Pillow cannot write 16-bit RGB, so write the rows by hand: 14 x 14, all (65535, 32896, 0).
    row = b"\x00" + struct.pack(">HHH", 65535, 32896, 0) * 14
    out = np.asarray(images.decode(png(14, 14, 16, 2, zlib.compress(row * 14))))
    assert out[7, 7].tolist() == [255, 128, 0]


def test_cmyk_jpeg():
    cyan = Image.new("CMYK", (32, 32), (255, 0, 0, 0))
    out = np.asarray(images.decode(encode(cyan, "JPEG", quality=95)), dtype=int)
    assert np.abs(out[16, 16] - (0, 255, 255)).max() < 12


def test_palette_with_transparency_composited_on_white():
    pixels = np.zeros((20, 20), np.uint8)
    pixels[:, 10:] = 1
    image = Image.fromarray(pixels, mode="P")
    image.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)
    data = encode(image, "PNG", transparency=0)  # index 0 (red) is transparent
    out = np.asarray(images.decode(data), dtype=int)
    assert out[5, 2].tolist() == [255, 255, 255] and out[5, 15].tolist() == list(BLUE)
    out = np.asarray(images.decode(encode(image, "GIF", transparency=0)), dtype=int)
    assert out[5, 2].tolist() == [255, 255, 255] and out[5, 15].tolist() == list(BLUE)


def test_alpha_composited_on_white():
    rgba = np.zeros((16, 16, 4), np.uint8)
    rgba[..., :3] = (0, 0, 0)
    rgba[:, :8, 3] = 0  # fully transparent black -> white
    rgba[:, 8:, 3] = 128  # half transparent black -> mid grey
    out = np.asarray(images.decode(encode(Image.fromarray(rgba), "PNG")), dtype=int)
    assert out[4, 2].tolist() == [255, 255, 255]
    assert np.abs(out[4, 12] - 127).max() <= 1
    la = Image.fromarray(rgba[..., [0, 3]], mode="LA")
    assert np.asarray(images.decode(encode(la, "PNG")))[4, 2].tolist() == [255, 255, 255]


@pytest.mark.parametrize(
    ("orientation", "size", "first", "last"),
    [(1, (40, 20), RED, BLUE), (6, (20, 40), RED, BLUE), (8, (20, 40), BLUE, RED)],
)
def test_exif_orientation_respected(orientation, size, first, last):
    exif = Image.Exif()
    exif[0x0112] = orientation  # stored sideways, as phones do
    data = encode(halves(40, 20), "JPEG", exif=exif, quality=95)
    out = images.decode(data)
    assert out.size == size
    pixels = np.asarray(out, dtype=int)
    # 6 = rotate 90° clockwise to display: the stored left (red) half ends up on top.
    assert np.abs(pixels[2, 2] - first).max() < 40
    assert np.abs(pixels[-3, -3] - last).max() < 40
    assert "exif" not in out.info  # no metadata (location!) travels further


def test_large_jpeg_is_shrunk_for_display():
    out = images.decode(encode(photo(3000, 2000), "JPEG", quality=70))
    assert max(out.size) == images.DISPLAY_MAX and out.size[0] > out.size[1]


def test_nothing_touches_the_disk(monkeypatch):
    inputs = [encode(photo(), fmt) for fmt in ("PNG", "JPEG", "WEBP", "GIF", "BMP", "TIFF")]
    inputs += [b"", b"not an image", inputs[0][:100], png(30_000, 30_000, 1, 0, b"")]
    images.decode(inputs[0])  # let Pillow import its format plugins first

    def forbidden(*args, **kwargs):
        raise AssertionError(f"file system used: {args[:1]}")

    for module, name in [
        (builtins, "open"),
        (io, "open"),
        (os, "open"),
        (tempfile, "mkstemp"),
        (tempfile, "NamedTemporaryFile"),
        (tempfile, "TemporaryFile"),
        (tempfile, "SpooledTemporaryFile"),
    ]:
        monkeypatch.setattr(module, name, forbidden)
    for data in inputs[:6]:
        assert images.preprocess(images.decode(data)).shape == (3, 224, 224)
    for data in inputs[6:]:
        with pytest.raises(InputError):
            images.decode(data)


# --- model input ---------------------------------------------------------------------------


def test_letterbox_keeps_the_aspect_ratio_and_centres():
    picture, box = images.letterbox(Image.new("RGB", (400, 300), (255, 255, 255)))
    assert picture.size == (224, 224)
    assert box == images.Box(left=0, top=28, width=224, height=168)
    pixels = np.asarray(picture)
    assert pixels[27, 100].tolist() == [0, 0, 0] and pixels[28, 100].tolist() == [255] * 3
    assert pixels[195, 100].tolist() == [255] * 3 and pixels[196, 100].tolist() == [0, 0, 0]
    tall = images.letterbox(Image.new("RGB", (20, 40)))[1]
    assert tall == images.Box(left=56, top=0, width=112, height=224)  # enlarged too


def test_preprocess_normalises_with_imagenet_statistics():
    values = images.preprocess(Image.new("RGB", (300, 200), (255, 255, 255)))
    assert values.shape == (3, 224, 224) and values.dtype == np.float32
    assert values.flags.c_contiguous
    mean, std = np.array(images.MEAN), np.array(images.STD)
    np.testing.assert_allclose(values[:, 112, 112], (1 - mean) / std, rtol=1e-6)
    np.testing.assert_allclose(values[:, 0, 112], -mean / std, rtol=1e-6)  # black padding


def test_patch_content():
    content = images.patch_content(images.Box(0, 28, 224, 168))  # (P,) row-major
    grid = content.reshape(16, 16)
    # The photo covers pixel rows 28..195: patch rows 2..13 (rows 14*r .. 14*r+13).
    assert grid[:, 0].tolist() == [0.0] * 2 + [1.0] * 12 + [0.0] * 2
    half = images.patch_content(images.Box(7, 0, 210, 224)).reshape(16, 16)
    assert half[0, 0] == 0.5 and half[0, 1] == 1.0 and half[0, 15] == 0.5


def test_sample_photos():
    samples = images.sample_images()
    assert set(samples) == {"astronaut", "chelsea", "coffee", "rocket", "camera"}
    licences = (Path(images.__file__).parent.parent / "assets/images/LICENSES.md").read_text()
    for name, data in samples.items():
        assert len(data) <= 150_000
        assert f"`{name}.jpg`" in licences
        image = images.decode(data)
        assert image.mode == "RGB" and min(image.size) >= 224
        for lang in LANGS:
            assert t(f"sample.{name}", lang)


def test_upload_limit_matches_streamlit_config():
    config = Path(images.__file__).parent.parent / ".streamlit" / "config.toml"
    settings = tomllib.loads(config.read_text())
    assert settings["server"]["maxUploadSize"] == images.UPLOAD_LIMIT_MB
