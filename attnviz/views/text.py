"""What a text figure needs from a trace, numpy only (no plotly, no torch, no streamlit): attention
between words, the rows and columns a filter keeps (special tokens, the direction of a pair),
windows and downsampling of long inputs.

Between the traces and attnviz/figures: the pages and ui/sentences.py call these, then hand
the arrays to a figure.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

import numpy as np

DIRECTIONS = ("all", "ab", "ba")  # every pair of tokens, sentence A -> B, sentence B -> A


def prefers_multilingual(text: str) -> bool:
    """True when the text has Chinese, Japanese or Korean letters, which the English model's
    WordPiece vocabulary mostly reads as [UNK]. Wide punctuation and emoji do not count."""
    return any(
        unicodedata.east_asian_width(ch) in "WF" and unicodedata.category(ch).startswith("L")
        for ch in text
    )


def pool_words(weights: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Attention between words: summed over a word's key pieces, averaged over its query pieces.

    Rows still sum to 1 (the share of attention a word's pieces give, on average, to each word).
    weights: (..., T, T) -> (..., W, W); `groups` (T,) numbers the words 0..W-1 in order.
    """
    groups = np.asarray(groups)
    n = int(groups.max()) + 1
    starts = np.flatnonzero(np.r_[True, groups[1:] != groups[:-1]])  # first piece of each run
    dtype = weights.dtype if weights.dtype in (np.float32, np.float64) else np.float64
    weights = np.asarray(weights, dtype=dtype)
    if len(starts) == n and (groups[starts] == np.arange(n)).all():
        # Words are runs of neighbouring pieces (always so for a tokenizer): block sums, O(T^2).
        counts = np.diff(np.r_[starts, len(groups)]).astype(dtype)  # (W,)
        keys = np.add.reduceat(weights, starts, axis=-1)  # (..., T, W)
        return np.add.reduceat(keys, starts, axis=-2) / counts[:, None]  # (..., W, W)
    onehot = np.zeros((len(groups), n), dtype=dtype)  # (T, W)
    onehot[np.arange(len(groups)), groups] = 1.0
    keys = weights @ onehot  # (..., T, W)
    mean_rows = onehot / onehot.sum(axis=0, keepdims=True)  # (T, W): averaging matrix
    return np.swapaxes(mean_rows, 0, 1) @ keys  # (..., W, W)


@dataclass(frozen=True, eq=False)
class View:
    """Weights reduced to what the user chose to see.

    `matrix` keeps any leading axes (layers, heads) of the input; `rows`/`cols` index the units
    (tokens or words) kept on each axis.
    """

    matrix: np.ndarray  # (..., R, C)
    rows: np.ndarray  # (R,) unit indices
    cols: np.ndarray  # (C,) unit indices
    row_labels: tuple[str, ...]  # (R,)
    col_labels: tuple[str, ...]  # (C,)


def select(
    weights: np.ndarray,
    labels,
    special,
    segment,
    *,
    direction: str = "all",
    hide_special: bool = False,
) -> View:
    """Keep the rows and columns a filter asks for.

    Args:
        weights: (..., T, T) attention weights.
        labels: (T,) what the user reads for each unit.
        special: (T,) bool.
        segment: (T,) 0 for sentence A, 1 for B.
        direction: "all"; "ab": queries of A, keys of B; "ba": queries of B, keys of A.
        hide_special: drop special tokens from both axes and renormalise each row over the keys
            that remain, so a row shows how the rest of the attention is shared.
    """
    if direction not in DIRECTIONS:
        raise ValueError(f"unknown direction {direction!r}")
    special = np.asarray(special, dtype=bool)
    segment = np.asarray(segment)
    keep = ~special if hide_special else np.ones(len(special), bool)
    matrix = np.asarray(weights)
    if hide_special and keep.any():
        matrix = matrix[..., keep]  # (..., T, K)
        total = matrix.sum(axis=-1, keepdims=True)  # (..., T, 1)
        matrix = np.divide(matrix, total, out=np.zeros_like(matrix), where=total > 0)
        kept_cols = np.flatnonzero(keep)
    else:
        keep = np.ones(len(special), bool)
        kept_cols = np.arange(len(special))
    row_mask = keep.copy()
    col_mask = np.ones(len(kept_cols), bool)
    if direction != "all":
        source, target = (0, 1) if direction == "ab" else (1, 0)
        row_mask &= segment == source
        col_mask &= segment[kept_cols] == target
    rows = np.flatnonzero(row_mask)
    cols = kept_cols[col_mask]
    # Index only an axis that loses something: a fancy index copies the whole (..., T, T).
    if len(rows) < matrix.shape[-2]:
        matrix = matrix[..., rows, :]  # (..., R, K)
    if not col_mask.all():
        matrix = matrix[..., col_mask]  # (..., R, C)
    labels = list(labels)
    return View(
        matrix=matrix,
        rows=rows,
        cols=cols,
        row_labels=tuple(labels[i] for i in rows),
        col_labels=tuple(labels[j] for j in cols),
    )


def window(view: View, start: int, stop: int) -> View:
    """Only the units in [start, stop) on both axes (for the line view of a long input)."""
    rows = (view.rows >= start) & (view.rows < stop)
    cols = (view.cols >= start) & (view.cols < stop)
    return View(
        matrix=view.matrix[..., rows, :][..., cols],
        rows=view.rows[rows],
        cols=view.cols[cols],
        row_labels=tuple(np.array(view.row_labels, dtype=object)[rows]),
        col_labels=tuple(np.array(view.col_labels, dtype=object)[cols]),
    )


# ---------------------------------------------------------------- downsampling


def downsample(matrix: np.ndarray, size: int) -> np.ndarray:
    """Block means over the last two axes so that neither exceeds `size`.

    Blocks are as equal as integer edges allow (512 -> 64 takes blocks of 8). (..., R, C).
    """
    rows, cols = matrix.shape[-2:]
    out = np.asarray(matrix)
    # float32 stays float32: (12, 12, 512, 512) in float64 would be 300 MB.
    out = out if out.dtype in (np.float32, np.float64) else out.astype(np.float64)
    if rows > size:
        edges = np.linspace(0, rows, size + 1).round().astype(int)
        sums = np.add.reduceat(out, edges[:-1], axis=-2)  # (..., size, C)
        out = sums / np.diff(edges)[:, None].astype(out.dtype)
    if cols > size:
        edges = np.linspace(0, cols, size + 1).round().astype(int)
        sums = np.add.reduceat(out, edges[:-1], axis=-1)  # (..., R', size)
        out = sums / np.diff(edges).astype(out.dtype)
    return out


def overview_cell(layers: int, heads: int, rows: int, cols: int, budget: int = 360_000) -> int:
    """Side of one downsampled head map: at most 64 and the longest axis, and small enough that
    all maps together hold at most `budget` values (one byte each in the figure)."""
    most = int(np.sqrt(budget / max(layers * heads, 1)))
    return max(1, min(64, max(rows, cols), most))


def overview_maps(
    layers, labels, special, segment, *, direction: str = "all", hide_special: bool = False
) -> tuple[np.ndarray | None, int]:
    """One downsampled map per layer and head after `select`, taken layer by layer.

    Each layer is selected and downsampled before the next is touched, so at most one layer's
    selection exists at full size (stacking 12 layers of 512 tokens first costs 432 MB for E5).
    layers: L x (H, T, T). Returns ((L, H, r, c), side of one head's map), or (None, 0) when the
    selection is empty.
    """
    side = 0
    small = []
    for weights in layers:
        view = select(weights, labels, special, segment, direction=direction,
                      hide_special=hide_special)  # fmt: skip
        if view.matrix.size == 0:
            return None, 0
        side = side or overview_cell(len(layers), *view.matrix.shape)
        small.append(downsample(view.matrix, side))  # (H, r, c)
    return np.stack(small), side
