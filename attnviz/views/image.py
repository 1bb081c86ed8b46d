"""What an image figure needs from a vision transformer's trace, numpy only: one token's
attention row, as a map over the G×G patch grid, with the artifact patches shown, masked or
clipped; the top patches; the share that lands on padding; block means of a saliency map.

Token 0 of a trace is CLS; patch (r, c) is token 1 + r·G + c (see attnviz/figures/image.py for
how the figures place it on the photo).
"""

from __future__ import annotations

import math

import numpy as np

ARTIFACT_MODES = ("show", "mask", "clip")


def grid_side(patches: int) -> int:
    """G for P = G×G patches."""
    side = math.isqrt(patches)
    if side * side != patches:
        raise ValueError(f"{patches} patches do not form a square grid")
    return side


def patch_map(row: np.ndarray) -> np.ndarray:
    """A row over the T = 1 + G×G tokens (CLS first) as the (G, G) map of the patches."""
    row = np.asarray(row)
    side = grid_side(row.shape[-1] - 1)
    return row[..., 1:].reshape(*row.shape[:-1], side, side)  # (..., G, G)


def padding_share(row: np.ndarray, content: np.ndarray) -> float:
    """The part of one attention row (T,) that lands on letterbox padding patches.

    `content` (P,) is each patch's share of photo (0 = all padding); a patch counts as padding
    when less than half of it is photo.
    """
    return float(np.asarray(row)[1:][np.asarray(content) < 0.5].sum())


def attention_row(weights: np.ndarray, query: int, head: int | None = None) -> np.ndarray:
    """How much token `query` attends to every token: (T,), one head or the mean over heads.

    Args:
        weights: (H, T, T) one layer's attention weights.
        head: a head index, or None for the mean over heads (each head's row sums to 1, so the
            mean does too).
    """
    rows = np.asarray(weights)[:, query, :]  # (H, T)
    return rows.mean(axis=0) if head is None else rows[head]


def pool(image: np.ndarray, factor: int) -> np.ndarray:
    """Mean over factor×factor blocks: (S, S) -> (S/factor, S/factor)."""
    image = np.asarray(image, dtype=np.float64)
    s = image.shape[0]
    if image.shape != (s, s) or s % factor:
        raise ValueError(f"cannot pool {image.shape} by {factor}")
    n = s // factor
    return image.reshape(n, factor, n, factor).mean(axis=(1, 3))  # (n, n)


def clean_map(grid: np.ndarray, artifacts, mode: str = "show") -> np.ndarray:
    """A (G, G) map with the artifact patches shown as they are, masked out, or clipped.

    Args:
        artifacts: patch indices (0..G²-1, row-major, CLS not counted).
        mode: "show" leaves the map alone; "mask" sets artifact patches to NaN (drawn as holes);
            "clip" caps every value at the largest value among the other patches, so the colour
            scale is spent on the rest of the photo while the artifacts stay visible at the top.
    """
    if mode not in ARTIFACT_MODES:
        raise ValueError(f"unknown mode {mode!r}")
    out = np.array(grid, dtype=np.float64)  # a copy: traces are read-only and shared
    idx = np.asarray(list(artifacts), dtype=int)
    if mode == "show" or idx.size == 0:
        return out
    flat = out.reshape(-1)  # (G²,) view of out
    keep = np.ones(flat.size, dtype=bool)
    keep[idx] = False
    if mode == "mask":
        flat[idx] = np.nan
    elif keep.any():
        np.minimum(flat, flat[keep].max(), out=flat)
    return out


def top_patches(row: np.ndarray, k: int, exclude=()) -> np.ndarray:
    """Patch indices (0..G²-1) of the k largest values of a token row (T,), CLS left out."""
    values = np.asarray(row, dtype=np.float64)[1:].copy()  # (P,)
    values[np.asarray(list(exclude), dtype=int)] = -np.inf
    order = np.argsort(-values, kind="stable")
    return order[np.isfinite(values[order])][:k]
