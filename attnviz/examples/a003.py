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
    notation,
    softmax_rows,
)
from attnviz.examples.code import c003

SYMBOLS = ("WᵀXᵢ", "WᵀXᵢ", "αᵢ", "Y")
TF = "TensorFlow 2"
# What TensorFlow 2 (eager) raises at the article's lines, in its own words (stated from its
# op type check and its reduction kernel's message; TensorFlow is not installed here).
TF_MATMUL = (
    "InvalidArgumentError: cannot compute MatMul as input #1(zero-based) was expected to be a"
    " float tensor but is a string tensor [Op:MatMul]"
)
TF_SUM = "InvalidArgumentError: Invalid reduction dimension (1 for input with 1 dimension(s)"
ONE_SCORE = "examples.table.one_score"

ARTICLE_ERRATA = (
    Erratum("examples.errata.e003_ref_aiayn", "refs", "7", (105, 105)),
    Erratum("examples.errata.e003_ref_tutorial", "refs", "7", (106, 106)),
)


def _ex003() -> WorkedExample:
    x = np.array([c003.EMBEDDING[word] for word in c003.WORDS])  # (2 positions, 2 features)
    w = c003.W  # (2,)
    # The linear score ignores the query; the one row stands for W, which scores every word.
    step = attend(np.zeros((1, 2)), x, x, score="linear", params={"w": w})
    weights = step.weights[0]  # (2,): alpha, one per word
    transformed = weights[:, None] * x  # (2, 2): X' = alpha (.) X, row i scaled by alpha_i
    # As written, with one number per word in place of each string (X a 2 x 1 column, ours:
    # the first feature): W (1 x 2) @ X contracts over the two words, so there is one score,
    # and the softmax of one score is 1.
    column = x[:, :1]  # (2, 1)
    one_score = w[None, :] @ column  # (1, 1)
    one_weight = softmax_rows(one_score)  # (1, 1): exactly 1
    return WorkedExample(
        name="003-5",
        notation=notation(r"X_i ↦ k, v; W^\top X_i ↦ scores; \alpha_i ↦ weights; Y ↦ context"),
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
            Table(
                ONE_SCORE,
                np.column_stack([one_score, one_weight]),
                ("W X",),
                ("score", "softmax"),
            ),
        ),
        results=(Table("examples.table.transformed", transformed, c003.WORDS, dims(2)),),
        claims=(),
        failures=(
            fails(
                "examples.failure.string_matmul",
                "import numpy as np\nnp.ones((1, 2)) @ np.array(['hello', 'world'])",
                "5",
                (69, 76),
                framework=TF,
                framework_error=TF_MATMUL,
            ),
            fails(
                "examples.failure.rank1_axis1",
                "import numpy as np\nnp.ones(2).sum(axis=1)",
                "5",
                (82, 82),
                framework=TF,
                framework_error=TF_SUM,
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
            Erratum(
                "examples.errata.e003_add",
                "math",
                "3.3",
                (27, 27),
                "examples.table.text_add",
                also=(("4.3", (53, 53)),),
            ),  # fmt: skip
            Erratum(
                "examples.errata.e003_strings",
                "code",
                "5",
                (63, 79),
                "examples.failure.string_matmul",
            ),
            Erratum("examples.errata.e003_shapes", "code", "5", (73, 82), ONE_SCORE),
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
