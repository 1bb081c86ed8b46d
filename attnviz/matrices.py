"""User-typed matrices (playground): parsing and checks, with messages from the catalog."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from attnviz.errors import InputError

# A playground matrix bigger than this is not something to read cell by cell.
MAX_ROWS = 64
MAX_COLS = 64
# Characters a matrix's text box takes: 64 x 64 numbers of up to ~11 characters each.
MAX_CHARS = 50_000
_SEPARATORS = re.compile(r"[,\s;，；]+")


def _checked(matrix: np.ndarray, name: str) -> np.ndarray:
    if matrix.shape[0] == 0:
        raise InputError("error.empty", name=name)
    if matrix.shape[1] == 0:
        raise InputError("error.zero_width", name=name)
    if matrix.shape[0] > MAX_ROWS or matrix.shape[1] > MAX_COLS:
        raise InputError("error.too_big", name=name, rows=MAX_ROWS, cols=MAX_COLS)
    if not np.isfinite(matrix).all():
        raise InputError("error.not_finite", name=name)
    return matrix


def parse_matrix(text: str, name: str) -> np.ndarray:
    """Rows on lines, numbers separated by spaces, commas or semicolons -> (rows, cols) float64."""
    if len(text) > MAX_CHARS:
        raise InputError("error.text_too_long", got=len(text), limit=MAX_CHARS)
    rows = []
    for line in text.strip().splitlines():
        cells = [c for c in _SEPARATORS.split(line.strip()) if c]
        if not cells:
            continue
        try:
            rows.append([float(c) for c in cells])
        except ValueError:
            raise InputError("error.cell_not_number", name=name) from None
    if not rows:
        raise InputError("error.empty", name=name)
    if len({len(r) for r in rows}) != 1:
        raise InputError("error.ragged", name=name)
    return _checked(np.array(rows, dtype=np.float64), name)


def parse_vector(text: str, name: str) -> np.ndarray:
    """One row of numbers -> (cols,) float64; more rows are refused, not flattened."""
    matrix = parse_matrix(text, name)
    if matrix.shape[0] != 1:
        raise InputError("error.not_vector", name=name, rows=matrix.shape[0], cols=matrix.shape[1])
    return matrix[0]


def frame_to_matrix(frame: pd.DataFrame, name: str) -> np.ndarray:
    """A data-editor table -> (rows, cols) float64; empty or non-numeric cells are refused."""
    frame = frame.dropna(how="all")
    try:
        matrix = frame.to_numpy(dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError("error.cell_not_number", name=name) from None
    if matrix.size and np.isnan(matrix).any():
        raise InputError("error.cell_not_number", name=name)
    return _checked(matrix.reshape(len(frame), frame.shape[1]), name)


def matrix_text(matrix: np.ndarray) -> str:
    """The inverse of parse_matrix, for showing defaults in a text box."""
    return "\n".join(" ".join(f"{x:g}" for x in row) for row in np.atleast_2d(matrix))
