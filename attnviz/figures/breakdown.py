"""The step-by-step breakdown of one query as columns and lines of text: layout only, no math.

Pure: numpy arrays in (a numpy `AttentionStep`, and the softmax parts that `attention.explain`
spelled out, passed as plain arrays), text and numbers out. No torch, no attention engine.
Columns are named with our names (key, k, scores, scaled, masked, exp, weights, contribution)
and selected by name; their headers may read in an article's notation instead.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence

import numpy as np

from attnviz.i18n import t
from attnviz.trace import AttentionStep

# The score function of each step as LaTeX, in our names.
SCORE_LATEX = {
    "dot": r"\mathrm{scores}_j = q \cdot k_j",
    "scaled_dot": (
        r"\mathrm{scores}_j = q \cdot k_j,\quad"
        r" \mathrm{scaled}_j = \frac{\mathrm{scores}_j}{\sqrt{d_k}\,\tau}"
    ),
    "cosine": r"\mathrm{scores}_j = \frac{q \cdot k_j}{\lVert q\rVert\,\lVert k_j\rVert}",
    "general": r"\mathrm{scores}_j = q^\top W k_j",
    "additive": r"\mathrm{scores}_j = w^\top \tanh(W_1 q + W_2 k_j)",
    "neg_euclidean": r"\mathrm{scores}_j = -\lVert q - k_j \rVert",
    "linear": r"\mathrm{scores}_j = w \cdot k_j + b",
}
SOFTMAX_LATEX = (
    r"\mathrm{weights}_j = \frac{\exp(\mathrm{masked}_j - m)}{\sum_i \exp(\mathrm{masked}_i - m)},"
    r"\quad m = \max_i \mathrm{masked}_i,"
    r"\qquad \mathrm{context} = \sum_j \mathrm{weights}_j\, v_j"
)

# The columns each step of the breakdown adds: score, scale, mask, softmax, weighted sum.
STAGES = (("key", "k", "scores"), ("scaled",), ("masked",), ("exp", "weights"), ("contribution",))
HEADERS = {
    "key": "breakdown.key",
    "k": "step.k",
    "scores": "step.scores",
    "scaled": "step.scaled",
    "masked": "step.masked",
    "exp": "step.exp",
    "weights": "step.weights",
    "contribution": "breakdown.contribution",
}


def vector_text(vector: np.ndarray, limit: int = 6) -> str:
    """A short readable form of a vector: all entries when short, else the first few and '…'."""
    parts = [f"{x:.4g}" for x in vector[:limit]]
    if len(vector) > limit:
        parts.append(f"… ({len(vector)})")
    return "[" + ", ".join(parts) + "]"


def short(symbol: str) -> str:
    """The bare symbol of a labelled one: "aᵢ" of "aᵢ = Q·Kᵢ/√dₖ", "sₜ" of "sₜ (Attention
    Score)"; "s(i, j)" stays whole."""
    return re.split(r" = | \(", symbol)[0]


def visible(shown: int, skipped: Collection[str] = ()) -> list[str]:
    """Names of the columns shown after the first `shown` steps, less the `skipped` stages."""
    return [name for stage in STAGES[:shown] for name in stage if name not in skipped]


def breakdown_columns(
    step: AttentionStep,
    exp: np.ndarray,
    contributions: np.ndarray,
    key_labels: Sequence[str],
    *,
    query: int = 0,
) -> dict[str, list[str] | np.ndarray]:
    """Every column by our name, one entry per key: numbers (arrays) or text (lists).

    Args:
        exp: (Tk,) exp(masked - max) of the query's row, 0 for hidden keys.
        contributions: (Tk, Dv) weights[j] * v[j].
    """
    return {
        "key": list(key_labels),
        "k": [vector_text(k) for k in step.k],
        "scores": step.scores[query],
        "scaled": step.scaled[query],
        "masked": step.masked[query],
        "exp": exp,
        "weights": step.weights[query],
        "contribution": [vector_text(c) for c in contributions],
    }


def headers(
    lang: str, notation: Mapping[str, str] | None = None, skipped: Collection[str] = ()
) -> dict[str, str]:
    """Column name -> header. With an article's `notation` (our name -> its symbol) the
    stages read in its symbols: exp of the last stage shown before the softmax (the `skipped`
    ones are not), and the contribution as its weight times v."""
    names = {name: t(key, lang) for name, key in HEADERS.items()}
    if notation:
        names.update({name: notation[name] for name in ("scores", "scaled", "weights")})
        last = next(name for name in ("masked", "scaled", "scores") if name not in skipped)
        names["exp"] = f"exp({short(names[last])} − max)"
        names["contribution"] = f"{short(notation['weights'])} × v"
    return names


def lines(
    step: AttentionStep,
    row_max: float,
    total: float,
    lang: str,
    *,
    query: int = 0,
    notation: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The text lines around the table: the query, the softmax's sums and the context; in an
    article's notation (our name -> its symbol; "q" the query's label) when given."""
    weight_sum = float(step.weights[query].sum())
    q, context = vector_text(step.q[query], limit=8), vector_text(step.context[query], limit=8)
    if not notation:
        return {
            "query": t("breakdown.query", lang, vector=q),
            "softmax": t(
                "breakdown.softmax_line", lang, row_max=row_max, total=total, weight_sum=weight_sum
            ),
            "context": t("breakdown.context", lang, vector=context),
        }
    weights = short(notation["weights"])
    return {
        "query": t("examples.breakdown.query", lang, name=notation["q"], vector=q),
        "softmax": t(
            "examples.breakdown.softmax_line",
            lang,
            weights=weights,
            row_max=row_max,
            total=total,
            weight_sum=weight_sum,
        ),
        "context": t(
            "examples.breakdown.context",
            lang,
            context=notation["context"],
            weights=weights,
            vector=context,
        ),
    }
