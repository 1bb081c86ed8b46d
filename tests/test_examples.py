"""The articles' worked examples, the list and article 001's formulas (§3.2, §4.2, §4.4): every
number against arithmetic written out by hand here (the code examples: test_examples_code.py)."""

from __future__ import annotations

import math

import pytest
from handwork import close, keys_of, softmax

from attnviz import examples
from attnviz.i18n import catalog

E = math.e
ROOT3 = math.sqrt(3)


# --- the list --------------------------------------------------------------------------------


def test_names_are_stable_and_cover_all_five_articles():
    assert examples.names() == [
        "000-code",
        "001-3.2",
        "001-4.2",
        "001-4.4",
        "001-5.2",
        "002-4",
        "003-5",
        "004-4",
    ]
    assert {name[:3] for name in examples.names()} == set(examples.ARTICLES)
    assert examples.names_of("001") == ["001-3.2", "001-4.2", "001-4.4", "001-5.2"]
    with pytest.raises(KeyError):
        examples.run("001-9.9")


# --- 001 §4.4 --------------------------------------------------------------------------------


def test_001_4_4_scores_scaled_weights_context_by_hand():
    ex = examples.run("001-4.4")
    step = ex.steps[0].step
    # Q . K_i with Q = [1,1,1]: [1,1,0] -> 2, [0,1,1] -> 2, [1,0,1] -> 2
    close(step.scores, [[2.0, 2.0, 2.0]])
    assert step.scale == pytest.approx(1 / ROOT3)
    # 2 / sqrt(3) = 1.1547005383792515
    close(step.scaled, [[1.1547005383792515] * 3])
    # softmax of three equal scores: 1/3 each
    close(step.weights, [[1 / 3, 1 / 3, 1 / 3]])
    # y = 1/3 x_1 + 1/3 x_2 + 1/3 x_3 with the unit vectors x_i
    close(step.context, [[1 / 3, 1 / 3, 1 / 3]])


def test_001_4_4_the_article_numbers_and_the_errata():
    ex = examples.run("001-4.4")
    claims = {c.symbol: c for c in ex.claims}
    # a_i is the scaled score everywhere on the page: 2 / sqrt(3) = 1.1547, while the article
    # writes 0.577 = 1/sqrt(3), which no reading of softmax(2/sqrt(3)) gives
    a_i = claims[r"a_i = \frac{Q \cdot K_i}{\sqrt{d_k}}"]
    assert not a_i.holds
    close(a_i.correct, [2 / ROOT3] * 3)
    assert {ours: symbol for symbol, ours in ex.notation}[
        "scaled"
    ] == r"a_i = \frac{Q \cdot K_i}{\sqrt{d_k}}"
    assert ex.steps[0].notation["scaled"].startswith("aᵢ = ")
    assert claims["w_i"].holds and claims[r"y \;(\text{the article's } y_1)"].holds
    # y_1 = y_2 = y_3 is right for the article's single query; that there is only one query
    # (not three outputs) is an erratum, shown with the three-query walk, not a wrong number.
    assert "examples.errata.e001_one_query" in keys_of(ex)
    readings = ex.as_written[0].values
    close(readings[0], [1.0, 1.0, 1.0])  # softmax of a single number
    close(readings[1], [1 / 3] * 3)  # softmax over the three keys: w_i
    close(readings[2], [2 / ROOT3] * 3)  # the scaled score itself: a_i = 1.1547
    assert readings[2, 0] == pytest.approx(1.1547, abs=5e-5)
    close(readings[3], [0.577] * 3)  # the article's value
    assert abs(0.577 - 1 / ROOT3) < 5e-4  # ... which is 1/sqrt(3)
    assert {"examples.errata.e001_0577", "examples.errata.e001_keys_two_ways"} <= keys_of(ex)
    # the opening page shows y_i = sum_j w_i x_j, so the index erratum is beside it
    assert "examples.errata.e001_index_4" in keys_of(ex)
    en = catalog("en")
    assert (
        "1.1547" in en["examples.errata.e001_0577"] and "0.577" in en["examples.errata.e001_0577"]
    )


def test_001_4_4_with_the_listed_values_and_with_three_queries():
    ex = examples.run("001-4.4")
    # V_i of the listed pairs (1,1), (0,1), (1,0) are 1, 1, 0: y = (1 + 1 + 0) / 3
    close(ex.steps[1].step.context, [[2 / 3]])
    assert "2/3" in catalog("en")["examples.errata.e001_values"]
    # queries x_1, x_2, x_3: x_i . K_j picks component i of K_j
    three = ex.steps[2].step
    close(three.scores, [[1, 0, 1], [1, 1, 0], [0, 1, 1]])
    a = 1 / ROOT3
    big, small = softmax(a, 0.0, a)[0], softmax(a, 0.0, a)[1]
    assert big == pytest.approx(0.390414, abs=1e-6) and small == pytest.approx(0.219172, abs=1e-6)
    close(three.weights, [[big, small, big], [big, big, small], [small, big, big]])
    close(three.context, three.weights)  # the values are the unit vectors


# --- 001 §4.2-4.3 ----------------------------------------------------------------------------


def test_001_4_2_three_readings_differ_by_hand():
    ex = examples.run("001-4.2")
    step = ex.steps[0].step
    # Q = x_1 = [1,0,0]: Q . K = [1, 0, 1], scaled by 1/sqrt(3)
    close(step.scores, [[1.0, 0.0, 1.0]])
    close(step.scaled, [[1 / ROOT3, 0.0, 1 / ROOT3]])
    w = softmax(1 / ROOT3, 0.0, 1 / ROOT3)
    close(step.weights, [w])
    readings = ex.as_written[0].values
    close(readings[0], [1 / 3] * 3)  # each scalar's softmax is 1, then 1/(1+1+1)
    close(readings[1], w)  # a second division by a sum that is already 1 changes nothing
    close(readings[2], [0.5, 0.0, 0.5])  # (1/sqrt3) / (2/sqrt3), 0, (1/sqrt3) / (2/sqrt3)
    assert ex.as_written[0].keyed_rows


def test_001_4_2_with_the_listed_values_y_is_0_6096():
    ex = examples.run("001-4.2")
    walk = ex.steps[1]
    assert walk.caption == "examples.step.values_v" and walk.features == ("V",)
    # query x_1: weights (w, w', w) with w = e^(1/sqrt3) / (2 e^(1/sqrt3) + 1), w' = 1 / (...)
    big = math.exp(1 / ROOT3) / (2 * math.exp(1 / ROOT3) + 1)
    small = 1 / (2 * math.exp(1 / ROOT3) + 1)
    y = big * 1 + small * 1 + big * 0  # V = (1, 1, 0)
    assert y == pytest.approx(0.6096, abs=5e-5)
    close(walk.step.context, [[y]])
    # the erratum is beside this walk (V from the list), not the one that sums the inputs
    (values,) = [e for e in ex.errata if e.key.endswith("e001_values")]
    assert values.at == "examples.step.values_v"
    text = catalog("en")["examples.errata.e001_values"]
    assert f"{y:.4f}" in text and "2/3" in text


# --- 001 §3.2 --------------------------------------------------------------------------------


def test_001_3_2_row_sum_division_breaks_and_softmax_does_not():
    ex = examples.run("001-3.2")
    # x1 = [1,0], x2 = [-1,1], x3 = [0,1]
    relevance = ex.as_written[0].values
    close(relevance, [[1, -1, 0], [-1, 2, 1], [0, 1, 1]])
    rowsum = ex.as_written[1].values
    assert rowsum[0, 0] == math.inf and rowsum[0, 1] == -math.inf and math.isnan(rowsum[0, 2])
    close(rowsum[1:], [[-0.5, 1.0, 0.5], [0.0, 0.5, 0.5]])
    (failure,) = ex.failures
    assert failure.observed and failure.error == "ZeroDivisionError"
    assert (failure.section, failure.lines) == ("3.3", (162, 162))
    step = ex.steps[0].step
    rows = [softmax(1, -1, 0), softmax(-1, 2, 1), softmax(0, 1, 1)]
    close(step.weights, rows)
    # row 3: 1/(1+2e), e/(1+2e), e/(1+2e)
    close(step.weights[2], [1 / (1 + 2 * E), E / (1 + 2 * E), E / (1 + 2 * E)])
    # y_1 = w11 [1,0] + w12 [-1,1] + w13 [0,1]
    w11, w12, w13 = rows[0]
    close(step.context[0], [w11 - w12, w12 + w13])
    assert (step.weights > 0).all()
