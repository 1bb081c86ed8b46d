"""The start page's small preview pictures: one SVG per page, drawn from fixed numbers (no
model runs; the same picture every time), a few hundred bytes each.

    previews.svg("text")  # an SVG document as text, for st.image
"""

from __future__ import annotations

from functools import cache

import numpy as np

W, H = 240, 120
# Viridis-like ramp, dark to light: the weights' colours of the pages' heatmaps.
_RAMP = ("#440154", "#3b528b", "#21918c", "#5ec962", "#fde725")


def _colour(x: float) -> str:
    return _RAMP[min(int(x * len(_RAMP)), len(_RAMP) - 1)]


def _grid(z: np.ndarray, x0: float, y0: float, w: float, h: float) -> list[str]:
    rows, cols = z.shape
    cw, ch = w / cols, h / rows
    return [
        f'<rect x="{x0 + j * cw:.1f}" y="{y0 + i * ch:.1f}" width="{cw - 1:.1f}" '
        f'height="{ch - 1:.1f}" fill="{_colour(z[i, j])}"/>'
        for i in range(rows)
        for j in range(cols)
    ]


def _softmax_rows(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    w = e / e.sum(axis=1, keepdims=True)
    return w / w.max()


def _shapes(page: str) -> list[str]:
    rng = np.random.default_rng(sum(map(ord, page)))  # a fixed seed per page
    if page == "examples":  # three worked steps: scores -> softmax -> sum
        out = []
        for n in range(3):
            out += _grid(rng.random((4, 1)) if n != 1 else _softmax_rows(rng.random((1, 4))).T,
                         20 + n * 80, 20, 40, 80)  # fmt: skip
        out += [f'<path d="M{68 + n * 80} 60 h20" stroke="#888" stroke-width="3"/>' for n in (0, 1)]
        return out
    if page == "playground":  # q, k, v side by side
        return sum((_grid(rng.random((3, 3)), 15 + n * 75, 25, 60, 70) for n in range(3)), [])
    if page == "text":  # a token heatmap with a strong column
        z = rng.normal(size=(8, 8))
        z[:, 2] += 2.5
        return _grid(_softmax_rows(z), 60, 5, 120, 110)
    if page == "image":  # a patch grid with a bright object
        yy, xx = np.mgrid[0:10, 0:20]
        z = np.exp(-((xx - 12) ** 2 + (yy - 5) ** 2) / 12) + 0.15 * rng.random((10, 20))
        return _grid(z / z.max(), 0, 0, W, H)
    if page == "seq2seq":  # a monotone alignment
        z = np.array([[np.exp(-((j - 1.6 * i) ** 2) / 1.5) for j in range(14)] for i in range(8)])
        return _grid(z / z.max(), 10, 5, 220, 110)
    if page == "sentiment":  # shaded word tiles
        return _grid(rng.random((3, 4)) ** 2, 10, 10, 220, 100)
    if page == "digits":  # a digit "7" under a 7 x 7 grid
        z = np.zeros((7, 7))
        z[1, 1:6] = 1
        z[2:6, 4 - np.arange(4) // 2] = 0.8
        return _grid(z + 0.1 * rng.random((7, 7)), 65, 3, 114, 114)
    if page == "heads":  # a layers x heads map: a few heads matter
        z = 0.15 * rng.random((6, 9))
        z[[1, 3, 4], [5, 2, 7]] = 1.0
        return _grid(z, 30, 5, 180, 110)
    if page == "open":  # a file of your own becomes a heatmap
        return [
            '<path d="M20 15 h40 l15 15 v75 h-55 z" fill="none" stroke="#888" stroke-width="3"/>',
            '<path d="M90 60 h30" stroke="#888" stroke-width="3"/>',
            *_grid(_softmax_rows(rng.normal(size=(6, 6)) * 2), 130, 10, 100, 100),
        ]
    # generate: next-token probabilities, one tall bar
    p = np.sort(rng.random(8) ** 4)[::-1]
    p[0] = 1.0
    return [
        f'<rect x="{20 + i * 26}" y="{110 - 100 * v:.1f}" width="20" height="{100 * v:.1f}" '
        f'fill="{_colour(0.2 + 0.8 * v)}"/>'
        for i, v in enumerate(p)
    ]


@cache
def svg(page: str) -> str:
    body = "".join(_shapes(page))
    return f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}">{body}</svg>'
