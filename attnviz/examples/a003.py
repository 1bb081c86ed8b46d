"""Article 003 §4–5: softmax(WᵀX), elementwise product, sum (TensorFlow code on strings)."""

from __future__ import annotations

import numpy as np

from attnviz.attention import attend
from attnviz.examples.base import (
    Erratum,
    Failure,
    Table,
    Walk,
    WorkedExample,
    dims,
    fails,
    listing,
)
from attnviz.examples.code import c003

SYMBOLS = ("WᵀXᵢ", "WᵀXᵢ", "αᵢ", "Y")

ARTICLE_ERRATA = (Erratum("examples.errata.e003_ref_tutorial", "refs", "7", (106, 106)),)


def _ex003() -> WorkedExample:
    x = np.array([c003.EMBEDDING[word] for word in c003.WORDS])  # (2 positions, 2 features)
    w = c003.W  # (2,)
    # The linear score ignores the query; the one row stands for W, which scores every word.
    step = attend(np.zeros((1, 2)), x, x, score="linear", params={"w": w})
    weights = step.weights[0]  # (2,): alpha, one per word
    transformed = weights[:, None] * x  # (2, 2): X' = alpha (.) X, row i scaled by alpha_i
    return WorkedExample(
        name="003-5",
        article="003",
        section="5",
        notation=(
            (r"X_i", "k, v"),
            (r"W^\top X_i", "scores"),
            (r"\alpha_i", "weights"),
            (r"Y", "context"),
        ),
        inputs=(
            Table("examples.table.embeddings", x, c003.WORDS, dims(2)),
            Table("examples.table.w", (w,), ("W",), dims(2)),
        ),
        article_formulas=(
            r"\alpha = \mathrm{softmax}(W^\top X)",
            r"X' = \alpha \odot X",
            r"Y = \sum_i \alpha_i X_i",
        ),
        correct_formulas=(
            r"\alpha_i = \frac{\exp(W^\top X_i)}{\sum_j \exp(W^\top X_j)}",
            r"X'_i = \alpha_i X_i",
            r"Y = \sum_i X'_i = \sum_i \alpha_i X_i",
        ),
        steps=(Walk("examples.step.correct", step, ("W",), c003.WORDS, dims(2), SYMBOLS),),
        as_written=(
            # The text's last step adds the transformed input to the input: X + X'.
            Table("examples.table.text_add", x + transformed, c003.WORDS, dims(2)),
        ),
        results=(Table("examples.table.transformed", transformed, c003.WORDS, dims(2)),),
        claims=(),
        failures=(
            fails(
                "examples.failure.string_matmul",
                "import numpy as np\nnp.ones((1, 2)) @ np.array(['hello', 'world'])",
                "5",
                (69, 76),
            ),
            fails(
                "examples.failure.rank1_axis1",
                "import numpy as np\nnp.ones(2).sum(axis=1)",
                "5",
                (82, 82),
            ),
            Failure(
                "examples.failure.tf_session",
                "import tensorflow as tf  # 2.x\ntf.Session()",
                "AttributeError",
                "module 'tensorflow' has no attribute 'Session'",
                observed=False,
                section="5",
                lines=(85, 87),
            ),
        ),
        errata=(
            Erratum(
                "examples.errata.e003_alpha_axis", "math", "4.1", (31, 39), "examples.step.correct"
            ),
            Erratum("examples.errata.e003_add", "math", "3.3", (25, 27), "examples.table.text_add"),
            Erratum(
                "examples.errata.e003_strings",
                "code",
                "5",
                (63, 79),
                "examples.failure.string_matmul",
            ),
            Erratum(
                "examples.errata.e003_shapes", "code", "5", (70, 82), "examples.failure.rank1_axis1"
            ),
            Erratum(
                "examples.errata.e003_tf_versions",
                "code",
                "5",
                (85, 87),
                "examples.failure.tf_session",
            ),
        ),
        listings=(listing("examples.listing.c003", "5", (65, 88), c003),),
    )


BUILDERS = {"003-5": _ex003}
