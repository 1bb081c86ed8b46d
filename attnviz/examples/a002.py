"""Article 002: cosine-similarity self-attention in NumPy."""

from __future__ import annotations

import numpy as np

from attnviz.attention import attend
from attnviz.examples.base import (
    Table,
    Walk,
    WorkedExample,
    catch,
    dims,
    labels,
)

# ---------------------------------------------------------------------------------------------
# 002 §4: cosine-similarity self-attention in numpy
# ---------------------------------------------------------------------------------------------

_X002 = ((0.1, 0.2), (0.3, 0.4), (0.5, 0.6))


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def _ex002() -> WorkedExample:
    x = np.array(_X002)  # (3, 2): three positions, two features
    n, d = x.shape
    # As written: the inner loop runs over the feature axis (d = 2), not the positions (n = 3).
    loop_as_written = np.array([[_cosine(x[i], x[j]) for j in range(d)] for i in range(n)])
    norm_as_written = np.exp(loop_as_written) / loop_as_written.sum(axis=1, keepdims=True)
    # Loop fixed, normalisation as written: rows sum to about e, not 1.
    cos_full = np.array([[_cosine(x[i], x[j]) for j in range(n)] for i in range(n)])
    norm_loop_fixed = np.exp(cos_full) / cos_full.sum(axis=1, keepdims=True)
    step = attend(x, x, x, score="cosine")
    step_euclid = attend(x, x, x, score="neg_euclidean")
    points = labels("h_", n)
    return WorkedExample(
        name="002-4",
        article="002",
        section="4",
        notation=(
            (r"h_j", "k, v"),
            (r"s(i, j)", "scores"),
            (r"\alpha_{i,j}", "weights"),
            (r"a_i", "context"),
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
            Walk("examples.step.cosine", step, points, points, dims(d)),
            Walk("examples.step.neg_euclidean", step_euclid, points, points, dims(d)),
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
            catch(
                "np.dot(input_sequence, attention_weights)  # (3,2)·(3,2)",
                lambda: np.dot(x, norm_as_written),
            ),
            catch(
                "np.dot(input_sequence, attention_weights)  # (3,2)·(3,3)",
                lambda: np.dot(x, norm_loop_fixed),
            ),
        ),
        errata=(
            "examples.errata.e002_axis",
            "examples.errata.e002_norm",
            "examples.errata.e002_order",
            "examples.errata.e002_euclid",
            "examples.errata.e002_steps_text",
        ),
    )


BUILDERS = {"002-4": _ex002}
