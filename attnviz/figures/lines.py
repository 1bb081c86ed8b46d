"""The line view (bertviz's "head view") as SVG: queries on the left, keys on the right, one line
per (query, key) whose opacity is the weight relative to the head's strongest line, one colour
per head.

The pages draw it as SVG rather than plotly so that it answers the pointer as bertviz does:
each query's label and its lines in every head shown are one group, and a CSS `:hover` rule
highlights them (a key's label highlights the lines into it the same way); no script is
needed, and plotly in Streamlit cannot restyle other traces on hover. The markup carries its own
style, so the same string is shown on the page and saved as a standalone .svg file. Every token
is escaped: user text is never markup.
"""

from __future__ import annotations

from html import escape

import numpy as np

HEAD_COLOURS = (
    "#636EFA", "#EF553B", "#00CC96", "#AB63FA", "#FFA15A", "#19D3F3",
    "#FF6692", "#B6E880", "#FF97FF", "#FECB52", "#8c564b", "#7f7f7f",
)  # fmt: skip
ROW = 24  # px between two tokens
TOP = 34  # px above the first token: the legend
LABEL = 18  # characters of a token shown (longer ones end in "…")
# where the query labels end, the lines run and the key labels start, as shares of the width
LEFT, RIGHT = 30, 70

# Our own CSS (no user text). rem: the page's type size, larger in presentation mode.
STYLE = """
text { font: 0.875rem sans-serif; fill: var(--st-text-color, #262730); dominant-baseline: middle; }
line { stroke-width: 2; pointer-events: none; }
.hit { fill: transparent; }
.q { cursor: pointer; }
.q:hover line { stroke-opacity: 1; stroke-width: 4; }
.q:hover text, .k:hover { font-weight: 700; }
"""


def segments(
    weights: np.ndarray, *, top: int = 5, min_weight: float = 0.02, query: int | None = None
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """The lines worth drawing of each head: (rows, cols, strength) per head, strength in
    (0, 1] relative to the head's strongest line (BERT heads rarely put more than 0.3 on one
    key: absolute weights would leave them all pale).

    Only each query's `top` keys with weight >= `min_weight` are kept: the rest would be
    invisible anyway and would only weigh on the browser.

    Args:
        weights: (K, R, C) weights of the K chosen heads.
        query: keep only this row's lines (index into the rows).
    """
    weights = np.asarray(weights, dtype=np.float64)
    n_rows, n_cols = weights.shape[-2:]
    top = max(1, min(top, n_cols))
    out = []
    for w in weights:  # (R, C)
        best = np.argsort(-w, axis=-1, kind="stable")[:, :top]  # (R, top)
        rows = np.repeat(np.arange(n_rows), top)  # (R*top,)
        cols = best.ravel()
        values = w[rows, cols]
        keep = values >= min_weight
        if query is not None:
            keep &= rows == query
        rows, cols, values = rows[keep], cols[keep], values[keep]
        peak = values.max() if len(values) else 1.0
        out.append((rows, cols, values / peak))
    return out


def _label(token: str) -> str:
    return escape(token if len(token) <= LABEL else token[: LABEL - 1] + "…")


def lines_svg(
    weights: np.ndarray,
    heads,
    row_labels,
    col_labels,
    *,
    top: int = 5,
    min_weight: float = 0.02,
    query: int | None = None,
    head_word: str = "head",
) -> str:
    """The line view of K heads as one SVG element (see the module docstring).

    Args:
        weights: (K, R, C) weights of the K chosen heads.
        heads: the K heads' indices (0-based), for colours and the legend.
        query: draw only this row's lines (index into the rows).
    """
    n_rows, n_cols = np.shape(weights)[-2:]
    height = TOP + ROW * max(n_rows, n_cols, 1)
    kept = segments(weights, top=top, min_weight=min_weight, query=query)
    colours = [HEAD_COLOURS[h % len(HEAD_COLOURS)] for h in heads]
    y = lambda i: TOP + ROW * i + ROW // 2  # noqa: E731 - the centre of row i
    legend = "".join(
        f'<line x1="{8 + 110 * k}" y1="12" x2="{30 + 110 * k}" y2="12" stroke="{colour}"/>'
        f'<text x="{36 + 110 * k}" y="12">{escape(head_word)} {head + 1}</text>'
        for k, (head, colour) in enumerate(zip(heads, colours, strict=True))
    )
    by_row: list[list[str]] = [[] for _ in range(n_rows)]
    for (rows, cols, strength), colour in zip(kept, colours, strict=True):
        for r, c, s in zip(rows.tolist(), cols.tolist(), strength.tolist(), strict=True):
            by_row[r].append(
                f'<line class="k{c}" x1="{LEFT + 1}%" y1="{y(r)}" x2="{RIGHT - 1}%" y2="{y(c)}" '
                f'stroke="{colour}" stroke-opacity="{max(s, 0.08):.3f}"/>'
            )
    queries = "".join(
        f'<g class="q" data-row="{r}"><rect class="hit" x="0" y="{y(r) - ROW // 2}" '
        f'width="{LEFT + 1}%" height="{ROW}"/><text x="{LEFT}%" y="{y(r)}" text-anchor="end">'
        f"{_label(row_labels[r])}</text>{''.join(by_row[r])}</g>"
        for r in range(n_rows)
    )
    keys = "".join(
        f'<text class="k" data-col="{c}" x="{RIGHT}%" y="{y(c)}">{_label(col_labels[c])}</text>'
        for c in range(n_cols)
    )
    # a key's label highlights the lines into it, in every query and head (one rule per key)
    into = "".join(
        f"svg:has(.k[data-col='{c}']:hover) line.k{c} {{ stroke-opacity: 1; stroke-width: 4; }}"
        for c in range(n_cols)
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="attnviz-lines" width="100%" '
        f'height="{height}"><style>{STYLE}{into}</style><g>{legend}</g>{queries}{keys}</svg>'
    )
