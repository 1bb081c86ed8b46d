"""Writes the hostile image files of this folder: `python tests/hostile/make_files.py`.

Each is a small file that decodes large (a "decode bomb"), at the size the issue reported or
just under the limit of its format, so tests/test_hostile.py can measure what decoding costs.
Uniform colour keeps the files small; the decoders allocate by size, not by content.
"""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

from PIL import Image

HERE = Path(__file__).resolve().parent


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png(side: int, depth: int, colour: int, channels: int) -> bytes:
    """A side x side PNG of zero rows, compressed in batches: the raw image is never built."""
    ihdr = struct.pack(">IIBBBBB", side, side, depth, colour, 0, 0, 0)
    row = b"\x00" * (1 + side * channels * depth // 8)  # filter byte + samples
    packer = zlib.compressobj(9)
    parts = [packer.compress(row * 500) for _ in range(side // 500)]
    parts.append(packer.compress(row * (side % 500)) + packer.flush())
    return b"".join(
        (b"\x89PNG\r\n\x1a\n", _chunk(b"IHDR", ihdr), _chunk(b"IDAT", b"".join(parts)))
    ) + _chunk(b"IEND", b"")


def tiff_rgba16(side: int) -> bytes:
    """A side x side 16-bit RGBA TIFF in ONE deflated strip, written by hand (Pillow cannot).

    libtiff reads a strip whole, 8 bytes a pixel here: the most a TIFF decode holds beside the
    4-byte RGBA image Pillow makes of it.
    """
    row = b"\x00" * (side * 8)
    packer = zlib.compressobj(9)
    strip = b"".join(packer.compress(row * 100) for _ in range(side // 100))
    strip += packer.compress(row * (side % 100)) + packer.flush()
    bits_at = 8 + len(strip)  # the four BitsPerSample values follow the strip
    tags = [  # (tag, type 3 = SHORT / 4 = LONG, count, value or offset), sorted by tag
        (256, 4, 1, side),  # ImageWidth
        (257, 4, 1, side),  # ImageLength
        (258, 3, 4, bits_at),  # BitsPerSample: 16, 16, 16, 16
        (259, 3, 1, 8),  # Compression: deflate
        (262, 3, 1, 2),  # Photometric: RGB
        (273, 4, 1, 8),  # StripOffsets: the strip follows the header
        (277, 3, 1, 4),  # SamplesPerPixel
        (278, 4, 1, side),  # RowsPerStrip: the whole image
        (279, 4, 1, len(strip)),  # StripByteCounts
        (338, 3, 1, 2),  # ExtraSamples: unassociated alpha
    ]
    ifd = struct.pack("<H", len(tags))
    for tag, kind, count, value in tags:
        ifd += struct.pack("<HHI", tag, kind, count)
        short = kind == 3 and count == 1  # a lone SHORT sits left-justified in the 4 bytes
        ifd += struct.pack("<HH", value, 0) if short else struct.pack("<I", value)
    ifd += struct.pack("<I", 0)
    head = b"II*\x00" + struct.pack("<I", bits_at + 8)
    return head + strip + struct.pack("<4H", 16, 16, 16, 16) + ifd


def saved(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def files() -> dict[str, bytes]:
    """name -> bytes of every decode bomb (the big ones are built one at a time)."""
    out = {
        # The four: 16-bit greyscale PNG 7000², float TIFF, tiny WebP, RGBA PNG.
        "png16_7000.png": png(7000, 16, 0, 1),
        "rgba_7000.png": png(7000, 8, 6, 4),
        "rgba16_7071.png": png(7071, 16, 6, 4),  # 50.0 MP, the most an accepted PNG may have
    }
    side = 7000
    out["float_7000.tif"] = saved(
        Image.new("F", (side, side), 0.5), "TIFF", compression="tiff_adobe_deflate"
    )
    out["tiny_7000.webp"] = saved(
        Image.new("RGB", (side, side), (10, 20, 30)), "WEBP", lossless=True, quality=0, method=0
    )
    # Just under the limits of images.MAX_PIXELS_BY_KIND, each the costliest of its kind.
    out["rgba_3741.webp"] = saved(
        Image.new("RGBA", (3741, 3741), (10, 20, 30, 40)), "WEBP", lossless=True, method=0
    )
    out["float_4472.tif"] = saved(
        Image.new("F", (4472, 4472), 0.5), "TIFF", compression="tiff_adobe_deflate"
    )
    out["rgba16_4472.tif"] = tiff_rgba16(4472)
    # A progressive JPEG keeps every DCT coefficient of the whole image, however small the draft;
    # a baseline one is decoded at 1/4 or 1/8 scale straight away.
    out["cmyk_progressive_4898.jpg"] = saved(
        Image.new("CMYK", (4898, 4898), (10, 20, 30, 40)), "JPEG", progressive=True
    )
    out["baseline_7071.jpg"] = saved(Image.new("RGB", (7071, 7071), (200, 100, 50)), "JPEG")
    return out


if __name__ == "__main__":
    for name, data in files().items():
        (HERE / name).write_bytes(data)
        print(f"{name}: {len(data):,} bytes")
