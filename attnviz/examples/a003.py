"""Article 003: softmax(W^T X), elementwise product, sum (TensorFlow code on strings)."""

from __future__ import annotations

import numpy as np

from attnviz.attention import attend
from attnviz.examples.base import (
    Failure,
    Table,
    Walk,
    WorkedExample,
    catch,
    dims,
)

# ---------------------------------------------------------------------------------------------
# 003 §4-5: softmax(W^T X), elementwise product, sum (TensorFlow code on strings)
# ---------------------------------------------------------------------------------------------

# Two words need numbers before any product: small embeddings of our choosing, and a weight
# vector w (the article draws W at random, shape [1, 2]).
_WORDS003 = ("hello", "world")
_X003 = ((1.0, 2.0), (3.0, -1.0))
_W003 = (0.5, -0.5)


def _ex003() -> WorkedExample:
    x = np.array(_X003)  # (2 positions, 2 features)
    w = np.array(_W003)  # (2,)
    step = attend(np.zeros((1, 2)), x, x, score="linear", params={"w": w})
    weights = step.weights[0]  # (2,): alpha, one per word
    transformed = weights[:, None] * x  # (2, 2): X' = alpha (.) X, row i scaled by alpha_i
    strings = np.array(_WORDS003)
    rng = np.random.default_rng(0)
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
            Table("examples.table.embeddings", x, _WORDS003, dims(2)),
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
        steps=(Walk("examples.step.correct", step, ("Y",), _WORDS003, dims(2)),),
        as_written=(
            # The text's last step adds the transformed input to the input: X + X'.
            Table("examples.table.text_add", x + transformed, _WORDS003, dims(2)),
        ),
        results=(Table("examples.table.transformed", transformed, _WORDS003, dims(2)),),
        claims=(),
        failures=(
            catch(
                "W @ X1  # X1 = ['hello', 'world'] (numpy)",
                lambda: rng.normal(size=(1, 2)) @ strings,
            ),
            catch("reduce_sum(..., axis=1)  # rank-1 input (numpy)", lambda: np.sum(x[0], axis=1)),
            Failure(
                "tf.Session()",
                "AttributeError",
                "module 'tensorflow' has no attribute 'Session'",
                observed=False,
            ),
        ),
        errata=(
            "examples.errata.e003_strings",
            "examples.errata.e003_tf_versions",
            "examples.errata.e003_shapes",
            "examples.errata.e003_add",
            "examples.errata.e003_alpha_axis",
        ),
    )


BUILDERS = {"003-5": _ex003}
