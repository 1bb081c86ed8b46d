"""Tables of the step-by-step breakdown of one query: no math here, only layout of the numbers
that `attention.attend` and `attention.explain` computed."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from attnviz.attention import Explained
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


def vector_text(vector: np.ndarray, limit: int = 6) -> str:
    """A short readable form of a vector: all entries when short, else the first few and '…'."""
    parts = [f"{x:.4g}" for x in vector[:limit]]
    if len(vector) > limit:
        parts.append(f"… ({len(vector)})")
    return "[" + ", ".join(parts) + "]"


def breakdown_columns(
    step: AttentionStep,
    explained: Explained,
    key_labels: Sequence[str],
    lang: str,
    *,
    query: int = 0,
) -> dict[str, list[str] | np.ndarray]:
    """The table's columns by name, one entry per key: k_j, scores, scaled, masked, exp, weights
    (numbers) and weights × v_j."""
    return {
        t("breakdown.key", lang): list(key_labels),
        t("step.k", lang): [vector_text(k) for k in step.k],
        t("step.scores", lang): step.scores[query],
        t("step.scaled", lang): step.scaled[query],
        t("step.masked", lang): step.masked[query],
        t("step.exp", lang): explained.exp,
        t("step.weights", lang): step.weights[query],
        t("breakdown.contribution", lang): [vector_text(c) for c in explained.contributions],
    }
