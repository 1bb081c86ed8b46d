"""The open trace format: any model's attention in one `.npz`, written and read strictly.

    version     ()              int     the format's version, VERSION
    tokens      (T,)            str     the positions' labels (self-attention), or, instead,
    queries     (Tq,)           str     the query labels and
    keys        (Tk,)           str     the key labels (cross-attention)
    attentions  (L, H, Tq, Tk)  float   weights: each row >= 0 and summing to 1 (within 1e-3)
    q, k, v     (L, H, Tq, Dh), (L, G, Tk, Dh), (L, G, Tk, Dv)   optional, all three or none:
                                        the step-by-step breakdown, softmax(q kᵀ / √Dh); G = H,
                                        or G key/value heads each shared by H/G query heads (GQA)
    allowed     (Tq, Tk)        bool    optional: which keys each query may see (a causal mask);
                                        by default the keys some head gives a weight above 0
    model       ()              str     optional: the model's name

Other members are ignored (the CLI's files add ids, token_type_ids, logits ...). Reading never
unpickles (allow_pickle=False), and every member's size, shape and type are checked from the
zip directory and the .npy headers before any array is read, so neither a zip bomb nor a header
announcing 10⁹ elements costs memory. Every refusal is an InputError with an `error.open_*` key.
"""

from __future__ import annotations

import io
import re
import zipfile
from dataclasses import dataclass

import numpy as np

from attnviz.errors import InputError
from attnviz.trace import LayerTrace

VERSION = 1
MAX_FILE_BYTES = 64 * 2**20  # the .npz itself
MAX_EXPANDED_BYTES = 256 * 2**20  # the arrays read, decompressed, together
MAX_POSITIONS = 1024  # Tq, Tk
MAX_MEMBERS = 64
TOLERANCE = 1e-3  # how far a row's sum may be from 1, and q, k, v's softmax from the weights
FLOATS = ("attentions", "q", "k", "v")
LABELS = ("tokens", "queries", "keys")
# Labels that read as a special token: [CLS], [SEP], <s>, </s>, <|endoftext|>, <pad> ...
_SPECIAL = re.compile(r"^(\[[A-Za-z_]+\]|<\|?/?[A-Za-z_]+\|?>)$")


@dataclass(frozen=True, eq=False)
class OpenTrace:
    """One trace in the open format, checked. `layers` holds q, k, v when the file had them."""

    queries: tuple[str, ...]  # (Tq,)
    keys: tuple[str, ...]  # (Tk,)
    attentions: np.ndarray  # (L, H, Tq, Tk) float32 or float64
    model: str = ""
    layers: tuple[LayerTrace, ...] | None = None  # (L,) with q, k, v; None without

    @property
    def self_attention(self) -> bool:
        """Queries and keys are the same positions (statistics and rollout need this)."""
        return self.queries == self.keys

    @property
    def special(self) -> np.ndarray:
        """(Tk,) bool: labels that read as special tokens ([CLS], <s> ...)."""
        return np.array([bool(_SPECIAL.match(label)) for label in self.keys], dtype=bool)


# ---------------------------------------------------------------- checking


def check(
    attentions,
    queries,
    keys,
    *,
    q=None,
    k=None,
    v=None,
    allowed=None,
    model: str = "",
) -> tuple[OpenTrace, list[str]]:
    """(trace, notices) of arrays in the open format; InputError when they do not fit it.

    A notice (a catalog key) says what was left out: q, k, v that do not give the weights.
    """
    weights = np.asarray(attentions)
    if weights.dtype.kind != "f" or weights.ndim != 4 or 0 in weights.shape:
        raise InputError("error.open_attentions_shape", shape=tuple(weights.shape))
    n_layers, n_heads, tq, tk = weights.shape
    queries, keys = _labels(queries, "queries", tq), _labels(keys, "keys", tk)
    if weights.dtype not in (np.float32, np.float64):
        weights = weights.astype(np.float32)  # float16: the figures draw float32
    if not np.isfinite(weights).all():
        raise InputError("error.open_not_finite", name="attentions")
    if (weights < 0).any():
        raise InputError("error.open_negative")
    sums = weights.sum(axis=-1, dtype=np.float64)  # (L, H, Tq)
    worst = np.unravel_index(int(np.abs(sums - 1).argmax()), sums.shape)
    if abs(sums[worst] - 1) > TOLERANCE:
        layer, head, row = (int(i) + 1 for i in worst)
        raise InputError(
            "error.open_row_sum", layer=layer, head=head, row=row, total=float(sums[worst])
        )
    if allowed is None:  # a causal model's hidden keys get exactly 0 from every head
        allowed = (weights > 0).any(axis=(0, 1))  # (Tq, Tk)
    allowed = np.asarray(allowed)
    if allowed.dtype != np.bool_ or allowed.shape != (tq, tk):
        raise InputError("error.open_shape", name="allowed", shape=allowed.shape, want=(tq, tk))
    given = [x is not None for x in (q, k, v)]
    if any(given) and not all(given):
        raise InputError("error.open_qkv_partial")
    layers, notices = None, []
    if all(given):
        layers = _layers(weights, np.asarray(q), np.asarray(k), np.asarray(v), allowed)
        if layers is None:
            notices.append("open.qkv_dropped")
    weights = weights.view()  # read-only for the cache's sharers, the caller's array untouched
    weights.flags.writeable = False
    return OpenTrace(queries, keys, weights, str(model), layers), notices


def _labels(labels, name: str, count: int) -> tuple[str, ...]:
    array = np.asarray(labels)
    if array.dtype.kind != "U" or array.ndim != 1:
        raise InputError("error.open_labels", name=name)
    if len(array) != count:
        raise InputError("error.open_shape", name=name, shape=array.shape, want=(count,))
    if not 0 < count <= MAX_POSITIONS:
        raise InputError("error.open_too_long", count=count, limit=MAX_POSITIONS)
    return tuple(str(label) for label in array)


def _layers(weights, q, k, v, allowed) -> tuple[LayerTrace, ...] | None:
    """One LayerTrace per layer when softmax(q kᵀ / √Dh) gives the weights, else None."""
    n_layers, n_heads, tq, tk = weights.shape
    dh = q.shape[-1] if q.ndim == 4 else 0
    # G key/value heads, each shared by H/G query heads (grouped-query attention), or G = H
    groups = k.shape[1] if k.ndim == 4 and k.shape[1] and n_heads % k.shape[1] == 0 else n_heads
    want = {"q": (n_layers, n_heads, tq, dh), "k": (n_layers, groups, tk, dh)}
    want["v"] = (n_layers, groups, tk, v.shape[-1] if v.ndim == 4 else 0)
    for name, array in (("q", q), ("k", k), ("v", v)):
        if array.dtype.kind != "f" or array.shape != want[name] or 0 in array.shape:
            raise InputError("error.open_shape", name=name, shape=array.shape, want=want[name])
        if not np.isfinite(array).all():
            raise InputError("error.open_not_finite", name=name)
    k, v = (np.repeat(x, n_heads // groups, axis=1) for x in (k, v))  # (L, H, Tk, D)
    layers = []
    for layer in range(n_layers):
        ql, kl, vl = (x[layer].astype(np.float64) for x in (q, k, v))  # (H, T, D)
        scaled = ql @ kl.transpose(0, 2, 1) / np.sqrt(dh)  # (H, Tq, Tk)
        masked = np.where(allowed, scaled, -np.inf)
        peak = masked.max(axis=-1, keepdims=True)  # (H, Tq, 1)
        exp = np.exp(masked - np.where(np.isfinite(peak), peak, 0))
        total = exp.sum(axis=-1, keepdims=True)
        own = np.divide(exp, total, out=np.zeros_like(exp), where=total > 0)  # (H, Tq, Tk)
        if np.abs(own - weights[layer]).max() > TOLERANCE:
            return None
        layers.append(
            LayerTrace(
                q=ql.astype(np.float32),
                k=kl.astype(np.float32),
                v=vl.astype(np.float32),
                weights=weights[layer],
                context=(own @ vl).astype(np.float32),
                allowed=allowed,
                scale=float(1 / np.sqrt(dh)),
            )  # fmt: skip
        )
    return tuple(layers)


# ---------------------------------------------------------------- reading


def read(data: bytes) -> tuple[OpenTrace, list[str]]:
    """(trace, notices) of an .npz file's bytes; InputError when it is not an open trace."""
    if len(data) > MAX_FILE_BYTES:
        raise InputError("error.open_too_big", limit=MAX_FILE_BYTES // 2**20)
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        members = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        raise InputError("error.open_not_npz") from None
    names = [m.filename for m in members]
    if len(names) > MAX_MEMBERS or len(set(names)) != len(names):
        raise InputError("error.open_not_npz")
    headers = {}
    for member in members:
        if not member.filename.endswith(".npy"):
            raise InputError("error.open_not_npz")
        headers[member.filename[:-4]] = _header(archive, member)
    for name in ("attentions",):
        if name not in headers:
            raise InputError("error.open_missing", name=name)
    if "tokens" not in headers and not {"queries", "keys"} <= headers.keys():
        raise InputError("error.open_missing", name="tokens")
    wanted = [n for n in (*FLOATS, *LABELS, "allowed", "model", "version") if n in headers]
    expanded = sum(headers[name][2] for name in wanted)
    if expanded > MAX_EXPANDED_BYTES:
        raise InputError("error.open_too_big", limit=MAX_EXPANDED_BYTES // 2**20)
    for name in wanted:
        _check_header(name, *headers[name][:2])
    with np.load(io.BytesIO(data), allow_pickle=False) as npz:
        arrays = {name: npz[name] for name in wanted}
    version = int(arrays.get("version", VERSION))
    if version != VERSION:
        raise InputError("error.open_version", version=version, supported=VERSION)
    tokens = arrays.get("tokens")
    return check(
        arrays["attentions"],
        arrays.get("queries", tokens),
        arrays.get("keys", tokens),
        q=arrays.get("q"),
        k=arrays.get("k"),
        v=arrays.get("v"),
        allowed=arrays.get("allowed"),
        model=str(arrays.get("model", "")),
    )


def _header(archive: zipfile.ZipFile, member: zipfile.ZipInfo) -> tuple[tuple, np.dtype, int]:
    """(shape, dtype, bytes) a member announces, read from its .npy header alone.

    The zip's own size of the member must be what the header announces: the array is then read
    by np.load from at most that many decompressed bytes (zipfile stops at the declared size).
    """
    if member.file_size > MAX_EXPANDED_BYTES:
        raise InputError("error.open_too_big", limit=MAX_EXPANDED_BYTES // 2**20)
    try:
        with archive.open(member) as handle:
            version = np.lib.format.read_magic(handle)
            read_header = {
                (1, 0): np.lib.format.read_array_header_1_0,
                (2, 0): np.lib.format.read_array_header_2_0,
            }.get(version)
            if read_header is None:
                raise ValueError(f"npy version {version}")
            shape, _, dtype = read_header(handle)
            offset = handle.tell()
    except (ValueError, OSError, EOFError, SyntaxError, zipfile.BadZipFile, NotImplementedError):
        raise InputError("error.open_not_npz") from None
    if dtype.hasobject:  # the name is the file's: only its plain letters reach a message
        raise InputError("error.open_pickle", name=re.sub(r"\W", "", member.filename[:-4])[:40])
    count = int(np.prod(shape, dtype=object))  # exact: np.int64 could overflow
    size = count * dtype.itemsize
    if size > MAX_EXPANDED_BYTES:
        raise InputError("error.open_too_big", limit=MAX_EXPANDED_BYTES // 2**20)
    if offset + size != member.file_size:
        raise InputError("error.open_not_npz")
    return tuple(shape), dtype, size


def _check_header(name: str, shape: tuple, dtype: np.dtype) -> None:
    """The kind and number of dimensions each member must announce."""
    kind, ndim = {
        "attentions": ("f", 4), "q": ("f", 4), "k": ("f", 4), "v": ("f", 4),
        "tokens": ("U", 1), "queries": ("U", 1), "keys": ("U", 1),
        "allowed": ("b", 2), "model": ("U", 0), "version": ("iu", 0),
    }[name]  # fmt: skip
    if dtype.kind not in kind or dtype.names is not None or len(shape) != ndim:
        if name in LABELS:
            raise InputError("error.open_labels", name=name)
        # dtype.str ("<f4", "|V8"): a structured type's field names never reach a message
        raise InputError("error.open_type", name=name, dtype=dtype.str, shape=shape)


# ---------------------------------------------------------------- writing


def arrays(trace: OpenTrace) -> dict[str, np.ndarray]:
    """The .npz members of a trace (the inverse of `read`)."""
    out = {"version": np.array(VERSION), "attentions": trace.attentions}
    if trace.self_attention:
        out["tokens"] = np.array(trace.queries, dtype=str)
    else:
        out["queries"] = np.array(trace.queries, dtype=str)
        out["keys"] = np.array(trace.keys, dtype=str)
    if trace.model:
        out["model"] = np.array(trace.model)
    if trace.layers is not None:
        for name in ("q", "k", "v"):
            out[name] = np.stack([getattr(layer, name) for layer in trace.layers])
        if not trace.layers[0].allowed.all():
            out["allowed"] = np.asarray(trace.layers[0].allowed)
    return out


def to_bytes(trace: OpenTrace) -> bytes:
    """The trace as a compressed .npz file's bytes."""
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays(trace))
    return buffer.getvalue()
