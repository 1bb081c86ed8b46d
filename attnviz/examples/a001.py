"""Article 001: dot-product relevance, the formulas of §4, the §4.4 example, the classifier."""

from __future__ import annotations

import numpy as np

from attnviz.attention import attend
from attnviz.examples.base import (
    Claim,
    Erratum,
    Table,
    Walk,
    WorkedExample,
    dims,
    fails,
    labels,
    listing,
    notation,
    softmax_rows,
)
from attnviz.examples.code import c001_33

SYMBOLS_3 = ("r(xᵢ, xⱼ)", "r(xᵢ, xⱼ)", "wᵢⱼ", "yᵢ")
READINGS = "examples.table.readings"
# One meaning per symbol in §4: aᵢ is the scaled score (§4.3's definition), wᵢ its softmax over
# the keys, y the one output of the one query Q; V says which values y sums.
SYMBOLS_4 = ("Q·Kᵢ", "aᵢ = Q·Kᵢ/√dₖ", "wᵢ", "y (Vᵢ = xᵢ)")
SYMBOLS_4V = ("Q·Kᵢ", "aᵢ = Q·Kᵢ/√dₖ", "wᵢ", "y (Vᵢ = 1, 1, 0)")
SYMBOLS_4SELF = ("xᵢ·Kⱼ", "aᵢⱼ = xᵢ·Kⱼ/√dₖ", "wᵢⱼ", "yᵢ")
FORMULAS_4SELF = (
    r"a_{ij} = \frac{x_i \cdot K_j}{\sqrt{d_k}}",
    r"w_{ij} = \frac{\exp(a_{ij})}{\sum_{k=1}^{n} \exp(a_{ik})}",
    r"y_i = \sum_{j=1}^{n} w_{ij} x_j",
)

# Errata about the article as a whole (claims in prose, references), not one computation.
ARTICLE_ERRATA = (
    Erratum("examples.errata.e001_rnn_extension", "math", "2.3", (89, 89)),
    Erratum("examples.errata.e001_max_aggregation", "math", "3.1", (122, 122)),
    Erratum(
        "examples.errata.e001_complexity", "math", "3.4", (176, 176), also=(("9.2", (529, 529)),)
    ),
    Erratum("examples.errata.e001_static", "math", "8.1", (503, 503)),
    Erratum("examples.errata.e001_unverifiable", "refs", "7", (453, 492)),
    Erratum(
        "examples.errata.e001_origin",
        "refs",
        "7.1.3",
        (457, 457),
        also=(("7.3.1", (481, 481)), ("10.4", (581, 581))),
    ),  # fmt: skip
    Erratum(
        "examples.errata.e001_ref_dropout",
        "refs",
        "7.3.1",
        (482, 482),
        also=(("10.1", (567, 567)),),
    ),  # fmt: skip
    Erratum(
        "examples.errata.e001_ref_vit", "refs", "7.3.2", (486, 486), also=(("10.2", (571, 571)),)
    ),
    Erratum(
        "examples.errata.e001_no_code",
        "code",
        "2.4",
        (97, 102),
        note=True,
        also=(("5.1", (280, 286)),),
    ),  # fmt: skip
)

# ---------------------------------------------------------------------------------------------
# 001 §3.2-3.3: relevance by dot product, weights by dividing by the row sum
# ---------------------------------------------------------------------------------------------


def _ex001_32() -> WorkedExample:
    x = c001_33.X  # (n, D): ours, chosen so row 1 of R sums to 0 and row 2 has a negative
    n = len(x)
    relevance = x @ x.T  # (n, n): R_ij = x_i . x_j
    with np.errstate(divide="ignore", invalid="ignore"):
        rowsum = relevance / relevance.sum(axis=1, keepdims=True)  # the article's w
    step = attend(x, x, x, score="dot")
    points = labels("x_", n)
    return WorkedExample(
        name="001-3.2",
        notation=notation(
            r"x_i ↦ q; x_j ↦ k, v; r(x_i, x_j) = x_i \cdot x_j ↦ scores; w_{ij} ↦ weights; "
            r"y_i ↦ context"
        ),
        inputs=(Table("examples.table.x", x, points, dims(x.shape[1])),),
        article_formulas=(
            r"r(x_i, x_j) = x_i \cdot x_j",
            r"w_i = \frac{r(x_i, x_j)}{\sum_{j=1}^{n} r(x_i, x_j)}",
            r"y_i = \sum_{j=1}^{n} w_i x_j",
        ),
        correct_formulas=(
            r"r_{ij} = x_i \cdot x_j",
            r"w_{ij} = \frac{\exp(r_{ij})}{\sum_{k=1}^{n} \exp(r_{ik})}",
            r"y_i = \sum_{j=1}^{n} w_{ij} x_j",
        ),
        steps=(Walk("examples.step.correct", step, points, points, dims(x.shape[1]), SYMBOLS_3),),
        as_written=(
            Table("examples.table.relevance", relevance, points, points),
            Table("examples.table.rowsum_weights", rowsum, points, points),
        ),
        results=(),
        claims=(),
        failures=(
            fails(
                "examples.failure.rowsum_zero",
                "row = [1.0, -1.0, 0.0]  # r(x_1, x_j) for our x\nrow[0] / sum(row)",
                "3.3",
                (162, 162),
            ),
        ),
        errata=(
            Erratum(
                "examples.errata.e001_rowsum",
                "math",
                "3.2",
                (140, 140),
                "examples.table.rowsum_weights",
            ),
            Erratum(
                "examples.errata.e001_index",
                "math",
                "3.2",
                (144, 144),
                "examples.step.correct",
                also=(("3.2", (140, 140)),),
            ),  # fmt: skip
            Erratum(
                "examples.errata.e001_unsummed",
                "code",
                "3.3",
                (159, 165),
                "examples.listing.c001_33",
            ),
        ),
        listings=(listing("examples.listing.c001_33", "3.3", (154, 169), c001_33),),
    )


# ---------------------------------------------------------------------------------------------
# 001 §4.2-4.4: scaled dot-product with one query
# ---------------------------------------------------------------------------------------------

_X44 = ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0))  # x_1, x_2, x_3
_Q44 = (1.0, 1.0, 1.0)
_K44 = ((1.0, 1.0, 0.0), (0.0, 1.0, 1.0), (1.0, 0.0, 1.0))  # as used in the computation
_KV44 = ((1.0, 1.0), (0.0, 1.0), (1.0, 0.0))  # (K_i, V_i) as listed, scalars
_NOTATION_4 = notation(
    r"Q ↦ q; K_i ↦ k; V_i ↦ v; Q \cdot K_i ↦ scores; "
    r"a_i = \frac{Q \cdot K_i}{\sqrt{d_k}} ↦ scaled; w_i ↦ weights; y ↦ context"
)
_FORMULAS_42 = (
    r"a_i = \mathrm{softmax}\left(\frac{Q \cdot K_i}{\sqrt{d_k}}\right)",
    r"w_i = \frac{a_i}{\sum_{j=1}^{n} a_j}",
    r"y_i = \sum_{j=1}^{n} w_i x_j",
)
_FORMULAS_43 = (
    r"a_i = \frac{Q \cdot K_i}{\sqrt{d_k}}",
    r"w_i = \frac{a_i}{\sum_{j=1}^{n} a_j} \quad (\text{“softmax”})",
)
_CORRECT_4 = (
    r"a_i = \frac{Q \cdot K_i}{\sqrt{d_k}}",
    r"w_i = \mathrm{softmax}(a)_i = \frac{\exp(a_i)}{\sum_{j=1}^{n} \exp(a_j)}",
    r"y = \sum_{i=1}^{n} w_i V_i",
)


def _inputs_4(q: tuple[float, ...]) -> tuple[Table, ...]:
    return (
        Table("examples.table.x", _X44, labels("x_", 3), dims(3)),
        Table("examples.table.query", (q,), ("Q",), dims(3)),
        Table("examples.table.keys_vectors", _K44, labels("K_", 3), dims(3)),
        Table("examples.table.keys_pairs", _KV44, labels("i=", 3), ("K_i", "V_i")),
    )


def _one_query(q: np.ndarray) -> tuple[Walk, Walk]:
    """The query's walk with the inputs as values (what the article sums), then with the listed
    values V_i = 1, 1, 0 (what its formula y = sum_i w_i V_i sums): two different outputs y."""
    k, x = np.array(_K44), np.array(_X44)
    values = np.array([[pair[1]] for pair in _KV44])  # (3, 1)
    keys = labels("K_", 3)
    return (
        Walk("examples.step.values_x", attend(q, k, x, score="scaled_dot"), ("Q",), keys, dims(3),
             SYMBOLS_4),
        Walk("examples.step.values_v", attend(q, k, values, score="scaled_dot"), ("Q",), keys,
             ("V",), SYMBOLS_4V),
    )  # fmt: skip


def _values_erratum(section: str, lines: tuple[int, int]) -> Erratum:
    return Erratum("examples.errata.e001_values", "math", section, lines, "examples.step.values_v")


def _index_erratum() -> Erratum:
    return Erratum(
        "examples.errata.e001_index_4", "math", "4.2", (213, 213), "examples.step.values_x",
        also=(("4.3", (242, 242)),),
    )  # fmt: skip


def _ex001_42() -> WorkedExample:
    # §4.4's query gives three equal scores, so every reading of the formulas agrees there.
    # With the query x_1 = [1, 0, 0] (our choice) the scores differ and the readings split.
    q = np.array([_X44[0]])  # (1, 3)
    walks = _one_query(q)
    scaled = walks[0].step.scaled[0]  # (3,): a_i
    readings = np.stack(
        [
            np.full(3, 1 / 3),  # softmax of each scalar alone is 1, then 1 / (1 + 1 + 1)
            softmax_rows(scaled) / softmax_rows(scaled).sum(),  # softmax, then divided again
            scaled / scaled.sum(),  # §4.3: no softmax, plain division
        ]
    )
    keys = labels("K_", 3)
    return WorkedExample(
        name="001-4.2",
        notation=_NOTATION_4,
        inputs=(
            Table("examples.table.x", _X44, labels("x_", 3), dims(3)),
            Table("examples.table.query_ours", q, ("Q",), dims(3)),
            Table("examples.table.keys_vectors", _K44, keys, dims(3)),
            Table("examples.table.keys_pairs", _KV44, labels("i=", 3), ("K_i", "V_i")),
        ),
        article_formulas=_FORMULAS_42 + _FORMULAS_43,
        correct_formulas=_CORRECT_4,
        steps=walks,
        as_written=(
            Table(
                READINGS,
                readings,
                ("examples.reading.scalar", "examples.reading.double", "examples.reading.plain"),
                keys,
                keyed_rows=True,
            ),
        ),
        results=(),
        claims=(),
        failures=(),
        errata=(
            Erratum("examples.errata.e001_double_norm", "math", "4.2", (205, 209), READINGS),
            Erratum("examples.errata.e001_plain_norm", "math", "4.3", (233, 238), READINGS),
            _index_erratum(),
            _values_erratum("4.2", (212, 214)),
            Erratum("examples.errata.e001_sqrt_reason", "math", "4.3", (234, 234), note=True),
            Erratum("examples.errata.e001_query_def", "math", "4.3", (222, 223)),
        ),
    )


def _ex001_44() -> WorkedExample:
    q, k, x = np.array([_Q44]), np.array(_K44), np.array(_X44)
    keys = labels("K_", 3)
    # The article's own output uses x_j as the values (V = X), so its y matches the first walk;
    # with the listed V_i = (1, 1, 0) y is a number, 2/3.
    walks = _one_query(q)
    step = walks[0].step
    # Three outputs y_1, y_2, y_3 need three queries; with queries x_1, x_2, x_3 they differ.
    step_self = attend(x, k, x, score="scaled_dot")
    alone = np.array([softmax_rows(np.array([[a]]))[0, 0] for a in step.scaled[0]])  # (3,)
    return WorkedExample(
        name="001-4.4",
        notation=_NOTATION_4,
        inputs=_inputs_4(_Q44),
        article_formulas=_FORMULAS_42,
        correct_formulas=_CORRECT_4,
        steps=(
            *walks,
            Walk(
                "examples.step.three_queries",
                step_self,
                labels("x_", 3),
                keys,
                dims(3),
                SYMBOLS_4SELF,
                FORMULAS_4SELF,
            ),
        ),  # fmt: skip
        as_written=(
            Table(
                "examples.table.softmax_one",
                [alone, step.weights[0], step.scaled[0], [0.577] * 3],
                (
                    "examples.reading.scalar",
                    "examples.reading.over_keys",
                    "examples.reading.scaled",
                    "examples.reading.claimed",
                ),
                keys,
                keyed_rows=True,
            ),
        ),
        results=(),
        claims=(
            Claim(r"a_i = \frac{Q \cdot K_i}{\sqrt{d_k}}", (0.577,) * 3, tuple(step.scaled[0])),
            Claim(r"w_i", (0.333,) * 3, tuple(step.weights[0])),
            Claim(r"y \;(\text{the article's } y_1)", (0.333,) * 3, tuple(step.context[0])),
        ),
        failures=(),
        errata=(
            Erratum(
                "examples.errata.e001_keys_two_ways",
                "math",
                "4.4",
                (246, 249),
                "examples.table.keys_pairs",
            ),
            Erratum(
                "examples.errata.e001_0577", "math", "4.4", (249, 251), "examples.table.softmax_one"
            ),
            _index_erratum(),
            _values_erratum("4.4", (259, 261)),
            Erratum(
                "examples.errata.e001_one_query",
                "math",
                "4.4",
                (259, 263),
                "examples.step.three_queries",
            ),
        ),
    )


BUILDERS = {"001-3.2": _ex001_32, "001-4.2": _ex001_42, "001-4.4": _ex001_44}
