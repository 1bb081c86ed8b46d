"""The articles' worked examples: every number against arithmetic written out by hand here."""

from __future__ import annotations

import json
import math
from collections import Counter

import numpy as np
import pytest

from attnviz import examples
from attnviz.figures.breakdown import vector_text
from attnviz.i18n import LANGS, catalog, t

E = math.e
ROOT3 = math.sqrt(3)


def softmax(*scores: float) -> list[float]:
    """Written out so each test reads as the arithmetic it checks."""
    exps = [math.exp(s) for s in scores]
    return [x / sum(exps) for x in exps]


def close(actual, expected, tol: float = 1e-12) -> None:
    np.testing.assert_allclose(np.asarray(actual, dtype=float), expected, rtol=0, atol=tol)


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
    # 0.577 is 1/sqrt(3) = 0.57735..., not softmax(2/sqrt(3)) (= 1 alone, 1/3 among three)
    assert not claims["a_i"].holds
    close(claims["a_i"].correct, [1 / 3] * 3)
    assert claims["w_i"].holds and claims["y_1"].holds
    assert claims[r"\frac{Q \cdot K_i}{\sqrt{d_k}} = \frac{2}{\sqrt{3}}"].holds
    # y_1 = y_2 = y_3 is right for the article's single query; that there is only one query
    # (not three outputs) is an erratum, shown with the three-query walk, not a wrong number.
    assert "y_1, y_2, y_3" not in claims
    assert "examples.errata.e001_one_query" in ex.errata
    readings = ex.as_written[0].values
    close(readings[0], [1.0, 1.0, 1.0])  # softmax of a single number
    close(readings[1], [1 / ROOT3] * 3)
    close(readings[2], [0.577] * 3)
    assert "examples.errata.e001_0577" in ex.errata
    assert "examples.errata.e001_keys_two_ways" in ex.errata


def test_001_4_4_with_the_listed_values_and_with_three_queries():
    ex = examples.run("001-4.4")
    # V_i of the listed pairs (1,1), (0,1), (1,0) are 1, 1, 0: y = (1 + 1 + 0) / 3
    close(ex.steps[1].step.context, [[2 / 3]])
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
    step = ex.steps[0].step
    rows = [softmax(1, -1, 0), softmax(-1, 2, 1), softmax(0, 1, 1)]
    close(step.weights, rows)
    # row 3: 1/(1+2e), e/(1+2e), e/(1+2e)
    close(step.weights[2], [1 / (1 + 2 * E), E / (1 + 2 * E), E / (1 + 2 * E)])
    # y_1 = w11 [1,0] + w12 [-1,1] + w13 [0,1]
    w11, w12, w13 = rows[0]
    close(step.context[0], [w11 - w12, w12 + w13])
    assert (step.weights > 0).all()


# --- 001 §5.2 --------------------------------------------------------------------------------


def test_001_5_2_failures_as_written():
    ex = examples.run("001-5.2")
    seen = {f.code: (f.error, f.message) for f in ex.failures}
    assert all(f.observed for f in ex.failures)
    assert seen["model(inputs)  # inputs: (T,)"][0] == "IndexError"
    assert seen["model(batch)  # hidden_dim=100"] == ("RuntimeError", "batch1 must be a 3D tensor")
    error, message = seen["model(batch)  # hidden_dim=1"]
    assert error == "RuntimeError" and "2x50 and 1x1" in message
    assert seen["targets.size(0)"][0] == "IndexError"
    assert seen["targets.unsqueeze(1)"][0] == "IndexError"
    assert "Float" in seen["BCEWithLogitsLoss()(outputs, int targets)"][1]


def test_001_5_2_corrected_model_masks_padding_and_pools_by_hand():
    ex = examples.run("001-5.2")
    ids = ex.inputs[0].values
    close(ids, [[1, 2, 3], [3, 1, 0]])  # "abc", "ca" + <PAD>
    table = ex.inputs[1].values  # (vocab, E)
    first, second = ex.steps[0].step, ex.steps[1].step
    assert first.score == "linear" and second.score == "linear"
    # sequence 2: the <PAD> position is hidden, so its weight is exactly 0
    assert second.masked[0, 2] == -math.inf and second.weights[0, 2] == 0.0
    close(second.weights[0, :2], softmax(*second.scores[0, :2]))
    close(first.weights[0], softmax(*first.scores[0]))
    # the unmasked softmax gives <PAD> a share
    assert ex.as_written[0].values[1, 2] > 0
    # pooled = sum_t weight_t * embedding[token_t]
    for step, row, pooled in zip((first, second), ids, ex.results[0].values, strict=True):
        expected = sum(w * table[int(t)] for w, t in zip(step.weights[0], row, strict=True))
        close(pooled, expected)
    logits = ex.results[1].values
    close(logits[:, 1], 1 / (1 + np.exp(-logits[:, 0])))


# --- 002 §4 ----------------------------------------------------------------------------------


def test_002_cosine_matrix_and_softmax_by_hand():
    ex = examples.run("002-4")
    # x1 = [0.1, 0.2], x2 = [0.3, 0.4], x3 = [0.5, 0.6]
    n1, n2, n3 = math.sqrt(0.05), 0.5, math.sqrt(0.61)
    c12 = 0.11 / (n1 * n2)  # 0.03 + 0.08
    c13 = 0.17 / (n1 * n3)  # 0.05 + 0.12
    c23 = 0.39 / (n2 * n3)  # 0.15 + 0.24
    assert (c12, c13, c23) == pytest.approx((0.983870, 0.973417, 0.998688), abs=1e-6)
    cos = [[1, c12, c13], [c12, 1, c23], [c13, c23, 1]]
    step = ex.steps[0].step
    close(step.scores, cos)
    weights = [softmax(*row) for row in cos]
    close(step.weights, weights)
    x = [[0.1, 0.2], [0.3, 0.4], [0.5, 0.6]]
    close(
        step.context, [[sum(w[j] * x[j][d] for j in range(3)) for d in range(2)] for w in weights]
    )


def test_002_what_the_code_computes_and_where_it_fails():
    ex = examples.run("002-4")
    c12 = 0.11 / (math.sqrt(0.05) * 0.5)
    c13 = 0.17 / (math.sqrt(0.05) * math.sqrt(0.61))
    c23 = 0.39 / (0.5 * math.sqrt(0.61))
    # the loop over shape[1] = 2 features: columns j = 1, 2 only
    loop = ex.as_written[0].values
    close(loop, [[1, c12], [c12, 1], [c13, c23]])
    # exp(s) / sum(s), row 1: exp(1) / (1 + c12), exp(c12) / (1 + c12)
    close(ex.as_written[1].values[0], [E / (1 + c12), math.exp(c12) / (1 + c12)])
    # with the loop fixed the rows sum to sum(exp(s)) / sum(s), about e here
    row_sums = ex.as_written[3].values
    close(row_sums[0, 0], (E + math.exp(c12) + math.exp(c13)) / (1 + c12 + c13))
    close(row_sums[:, 1], [1, 1, 1])
    assert [f.error for f in ex.failures] == ["ValueError", "ValueError"]
    assert "(3,2) and (3,2) not aligned" in ex.failures[0].message
    assert "(3,2) and (3,3) not aligned" in ex.failures[1].message


def test_002_euclidean_distance_is_negated():
    step = examples.run("002-4").steps[1].step
    # |x1 - x2| = sqrt(0.08), |x1 - x3| = sqrt(0.32), |x2 - x3| = sqrt(0.08)
    d12, d13 = math.sqrt(0.08), math.sqrt(0.32)
    close(step.scores[0], [0.0, -d12, -d13])
    close(step.weights[0], softmax(0.0, -d12, -d13))
    assert step.weights[0, 0] > step.weights[0, 1] > step.weights[0, 2]  # nearest weighs most


# --- 003 -------------------------------------------------------------------------------------


def test_003_alpha_transformed_and_sum_by_hand():
    ex = examples.run("003-5")
    step = ex.steps[0].step
    # W = [0.5, -0.5]; hello = [1, 2] -> 0.5 - 1 = -0.5; world = [3, -1] -> 1.5 + 0.5 = 2
    close(step.scores, [[-0.5, 2.0]])
    a1 = 1 / (1 + math.exp(2.5))
    a2 = math.exp(2.5) / (1 + math.exp(2.5))
    assert (a1, a2) == pytest.approx((0.0758582, 0.9241418), abs=1e-7)
    close(step.weights, [[a1, a2]])
    transformed = [[a1 * 1, a1 * 2], [a2 * 3, a2 * -1]]
    close(ex.results[0].values, transformed)
    # Y = sum of X'_i = [a1 + 3 a2, 2 a1 - a2]
    close(step.context, [[a1 + 3 * a2, 2 * a1 - a2]])
    # the text's "add to the input" gives X + X', a different thing
    close(ex.as_written[0].values, [[1 + a1, 2 + 2 * a1], [3 + 3 * a2, -1 - a2]])
    errors = {f.error for f in ex.failures}
    assert {"UFuncTypeError", "AxisError", "AttributeError"} == errors
    assert [f.observed for f in ex.failures] == [True, True, False]


# --- 004 -------------------------------------------------------------------------------------


def test_004_feature_map_attention_scaled_by_sqrt_dk():
    ex = examples.run("004-4")
    step = ex.steps[0].step
    assert step.q.shape == (16, 4) and step.weights.shape == (16, 16)
    assert step.scale == 0.5  # 1 / sqrt(d_k) with d_k = 4
    q, k, v = step.q, step.k, step.v
    scores = q @ k.T
    exps = np.exp(scores / 2 - (scores / 2).max(axis=1, keepdims=True))
    weights = exps / exps.sum(axis=1, keepdims=True)
    close(step.weights, weights)
    close(step.context, weights @ v)
    # as written: divided by sqrt(hidden_size) = sqrt(8), a flatter row everywhere
    written = ex.as_written[0].values
    exps8 = np.exp(scores / math.sqrt(8) - (scores / math.sqrt(8)).max(axis=1, keepdims=True))
    close(written, exps8 / exps8.sum(axis=1, keepdims=True))
    close(ex.results[0].values, weights - written)

    def entropy(p):
        return -(p * np.log(p)).sum(axis=1)

    assert (entropy(written) >= entropy(weights) - 1e-12).all()
    assert weights.max() > 0.2  # a visible pattern, not 1/16 everywhere
    image = ex.inputs[0].values
    close(image, [[1, 1, 0, 0], [1, 1, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]])
    assert ex.inputs[1].values.shape == (16, 8) and (ex.inputs[1].values >= 0).all()  # ReLU


def test_004_failures_name_the_missing_weight_and_numpy():
    ex = examples.run("004-4")
    (undefined, no_numpy) = ex.failures
    assert undefined.error == "AttributeError" and "weight1" in undefined.message
    assert no_numpy.error == "NameError" and "'np'" in no_numpy.message


# --- 000 -------------------------------------------------------------------------------------


def test_000_softmax_dim1_normalises_over_the_batch():
    ex = examples.run("000-code")
    gate_t1, gate_sum, gated_t1, batch_of_one, unbatched = (t.values for t in ex.as_written)
    close(gate_t1.sum(axis=0), np.ones(gate_t1.shape[1]))  # columns sum to 1 over the batch
    close(gate_sum, np.ones_like(gate_sum))  # every time step, every feature
    assert (batch_of_one == 1.0).all()  # softmax over an axis of length 1
    close(unbatched.sum(axis=1), np.ones(unbatched.shape[0]))  # unbatched: over the features
    encoder_t1 = ex.inputs[1].values
    close(gated_t1, encoder_t1 * gate_t1)  # an elementwise gate, not a weighted sum


def test_000_corrected_weights_are_over_time():
    ex = examples.run("000-code")
    encoder_t1 = ex.inputs[1].values
    for b, walk in enumerate(ex.steps):
        step = walk.step
        assert step.weights.shape == (1, 5)
        close(step.weights[0], softmax(*step.scores[0]))
        close(step.context, step.weights @ step.v)
        close(step.k[0], encoder_t1[b])  # the keys are that sequence's encoder states
        close(ex.results[0].values[b], step.context[0])
        assert step.weights.std() > 0.01  # the seeded scorer does not give uniform weights


# --- JSON and catalogs -----------------------------------------------------------------------


@pytest.mark.parametrize("name", examples.names())
def test_to_json_round_trips(name):
    payload = examples.to_json(name)
    text = json.dumps(payload, allow_nan=False, ensure_ascii=False)
    again = json.loads(text)
    assert again == payload
    assert again["name"] == name and again["errata"]
    ex = examples.run(name)
    for walk, step in zip(ex.steps, again["steps"], strict=True):
        for field in ("q", "k", "v", "scores", "scaled", "weights", "context"):
            close(step[field], getattr(walk.step, field))
    assert len(again["failures"]) == len(ex.failures)


def test_to_json_writes_non_finite_numbers_as_strings():
    payload = examples.to_json("001-3.2")
    assert payload["as_written"][1]["values"][0] == ["inf", "-inf", "nan"]
    masked = examples.to_json("001-5.2")["steps"][1]["masked"]
    assert masked[0][2] == "-inf"


def test_every_catalog_key_exists_in_both_languages():
    for name in examples.names():
        ex = examples.run(name)
        keys = [ex.title, ex.intro, *ex.errata, *examples.ARTICLE_ERRATA[ex.article]]
        keys += [w.caption for w in ex.steps]
        for table in (*ex.inputs, *ex.as_written, *ex.results):
            keys.append(table.caption)
            if table.keyed_rows:
                keys += table.rows
        for lang in LANGS:
            missing = [k for k in keys if k not in catalog(lang)]
            assert not missing, (lang, name, missing)
    for article in examples.ARTICLES:
        for lang in LANGS:
            assert f"examples.article.{article}" in catalog(lang)


def test_errata_keys_are_used_exactly_once_and_none_is_orphaned():
    used = [k for name in examples.names() for k in examples.run(name).errata]
    used += [k for keys in examples.ARTICLE_ERRATA.values() for k in keys]
    repeated = {k for k, n in Counter(used).items() if n > 1}
    assert repeated == {"examples.errata.e001_values"}  # §4.2's formula and §4.4's example
    defined = {k for k in catalog("en") if k.startswith("examples.errata.")}
    assert defined == set(used)


def test_results_are_frozen():
    ex = examples.run("001-4.4")
    with pytest.raises(ValueError):
        ex.steps[0].step.weights[0, 0] = 1.0
    with pytest.raises(ValueError):
        ex.inputs[0].values[0, 0] = 2.0


# --- the page --------------------------------------------------------------------------------


def open_examples(lang: str, example: str | None = None):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file("../app.py", default_timeout=120)
    at.query_params["lang"] = lang
    if example:
        at.query_params["example"] = example
    at.switch_page("attnviz/ui/pages/examples.py").run()
    assert not at.exception, [e.message for e in at.exception]
    return at


@pytest.mark.parametrize("lang", LANGS)
def test_page_walks_every_example_in_both_languages(lang):
    at = open_examples(lang)
    words = catalog(lang)
    assert at.title[0].value == words["examples.page.heading"]
    for article in examples.ARTICLES:
        at.selectbox(key="examples_article").set_value(article).run()
        assert not at.exception, [e.message for e in at.exception]
        for name in examples.names_of(article):
            at.selectbox(key=f"examples_name_{article}").set_value(name).run()
            assert not at.exception, (name, [e.message for e in at.exception])
            ex = examples.run(name)
            assert at.header[0].value == words[ex.title]
            errata = at.warning[0].value
            assert all(words[key] in errata for key in ex.errata), name
            for walk in ex.steps:
                if len(ex.steps) > 1:
                    at.radio(key=f"{name}_walk").set_value(walk.caption).run()
                if len(walk.queries) > 1:
                    index = ex.steps.index(walk)
                    at.selectbox(key=f"{name}_{index}_query").set_value(len(walk.queries) - 1)
                    at.run()
                assert not at.exception, (name, walk.caption, [e.message for e in at.exception])
                # the breakdown ends with the context of the chosen query, in the page's language
                query = len(walk.queries) - 1 if len(walk.queries) > 1 else 0
                vector = vector_text(walk.step.context[query], limit=8)
                assert at.text[-1].value == t("breakdown.context", lang, vector=vector), name


def test_page_opens_the_example_named_in_the_url():
    at = open_examples("zh", "002-4")
    assert at.header[0].value == catalog("zh")["examples.title.002-4"]
    assert at.selectbox(key="examples_article").value == "002"
