"""Article 002 §4: self-attention scored by cosine similarity, in NumPy."""

from __future__ import annotations

import numpy as np

from attnviz.attention import attend
from attnviz.examples.base import (
    Erratum,
    Table,
    Walk,
    WorkedExample,
    dims,
    fails,
    labels,
    listing,
    notation,
)
from attnviz.examples.code import c002

SYMBOLS = ("s(i, j)", "s(i, j)", "αᵢⱼ", "aᵢ")

# Errata about the article as a whole (prose, FAQ), not one computation.
ARTICLE_ERRATA = (
    Erratum("examples.errata.e002_context_dup", "math", "2", (19, 21)),
    Erratum("examples.errata.e002_cnn_faq", "math", "6", (130, 132)),
)


def _cosines(x: np.ndarray, columns: int) -> np.ndarray:
    """cos(x_i, x_j) for j < columns: what a loop over the wrong axis computes."""
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    return unit @ unit[:columns].T


def _ex002() -> WorkedExample:
    x = c002.H  # (3, 2): three positions, two features
    n, d = x.shape
    # As written: the inner loop runs over the feature axis (d = 2), not the positions (n = 3).
    loop_as_written = _cosines(x, d)  # (3, 2)
    norm_as_written = np.exp(loop_as_written) / loop_as_written.sum(axis=1, keepdims=True)
    # Loop fixed, normalisation as written: rows sum to about e, not 1.
    cos_full = _cosines(x, n)  # (3, 3)
    norm_loop_fixed = np.exp(cos_full) / cos_full.sum(axis=1, keepdims=True)
    step = attend(x, x, x, score="cosine")
    step_euclid = attend(x, x, x, score="neg_euclidean")
    points = labels("h_", n)
    code = listing("examples.listing.c002", "4", (85, 111), c002)
    return WorkedExample(
        name="002-4",
        notation=notation(
            r"h_j ↦ q, k, v; s(i, j) ↦ scores; \alpha_{i,j} ↦ weights; a_i ↦ context"
        ),
        inputs=(Table("examples.table.x", x, points, dims(d)),),
        article_formulas=(
            r"\cos(\theta) = \frac{a \cdot b}{\|a\| \cdot \|b\|}",
            r"d(a, b) = \sqrt{\sum_{i=1}^{n} (a_i - b_i)^2}",
            r"\alpha_{i,j} = \frac{\exp(s(i, j))}{\sum_{k=1}^{T} \exp(s(i, k))}",
            r"a_i = \sum_{j=1}^{T} \alpha_{i,j} \cdot h_j",
        ),
        correct_formulas=(
            r"s(i, j) = \cos(h_i, h_j) \quad \text{or} \quad s(i, j) = -d(h_i, h_j)",
            r"\alpha_{i,j} = \frac{\exp(s(i, j))}{\sum_{k=1}^{T} \exp(s(i, k))}",
            r"a_i = \sum_{j=1}^{T} \alpha_{i,j} h_j \quad (A = \alpha H)",
        ),
        steps=(
            Walk("examples.step.cosine", step, points, points, dims(d), SYMBOLS),
            Walk("examples.step.neg_euclidean", step_euclid, points, points, dims(d), SYMBOLS),
        ),
        as_written=(
            Table("examples.table.loop_as_written", loop_as_written, points, points[:d]),
            Table("examples.table.norm_as_written", norm_as_written, points, points[:d]),
            Table("examples.table.norm_loop_fixed", norm_loop_fixed, points, points),
            Table(
                "examples.table.row_sums",
                np.column_stack([norm_loop_fixed.sum(axis=1), step.weights.sum(axis=1)]),
                points,
                ("exp(s)/Σs", "softmax"),
            ),
        ),
        results=(),
        claims=(),
        failures=(
            fails(
                "examples.failure.dot_order_32",
                "import numpy as np\nnp.dot(np.ones((3, 2)), np.ones((3, 2)))",
                "4",
                (105, 105),
            ),
            fails(
                "examples.failure.dot_order_33",
                "import numpy as np\nnp.dot(np.ones((3, 2)), np.ones((3, 3)))",
                "4",
                (105, 105),
            ),
        ),
        errata=(
            Erratum(
                "examples.errata.e002_axis",
                "code",
                "4",
                (101, 103),
                "examples.table.loop_as_written",
            ),
            Erratum(
                "examples.errata.e002_norm", "code", "4", (104, 104), "examples.table.row_sums"
            ),
            Erratum(
                "examples.errata.e002_order",
                "code",
                "4",
                (105, 105),
                "examples.failure.dot_order_32",
            ),
            Erratum(
                "examples.errata.e002_euclid",
                "math",
                "3.1",
                (35, 35),
                "examples.step.neg_euclidean",
                also=(("2", (19, 19)), ("2", (21, 21))),
            ),  # fmt: skip
            Erratum("examples.errata.e002_steps_text", "math", "3.1", (33, 37)),
        ),
        listings=(code,),
    )


BUILDERS = {"002-4": _ex002}
