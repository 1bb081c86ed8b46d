"""The articles' worked examples: every number against arithmetic written out by hand here."""

from __future__ import annotations

import json
import math
from collections import Counter

import numpy as np
import pytest
from conftest import open_app

from attnviz import examples
from attnviz.examples.code import c001_52, c004
from attnviz.figures.breakdown import short, vector_text, visible
from attnviz.i18n import LANGS, catalog, t

E = math.e
ROOT3 = math.sqrt(3)


def softmax(*scores: float) -> list[float]:
    """Written out so each test reads as the arithmetic it checks."""
    exps = [math.exp(s) for s in scores]
    return [x / sum(exps) for x in exps]


@pytest.fixture(scope="module")
def fitted():
    """The corrected classifier recipe, run once (it trains for 30 short epochs)."""
    return c001_52.fit()


def keys_of(ex) -> set[str]:
    return {e.key for e in ex.errata}


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


# --- 001 §5.2 --------------------------------------------------------------------------------


def test_001_5_2_failures_shown_by_our_own_smallest_code():
    ex = examples.run("001-5.2")
    seen = {f.caption.rsplit(".", 1)[-1]: f for f in ex.failures}
    assert all(f.observed for f in ex.failures)
    assert all(len(f.code.splitlines()) <= 3 for f in ex.failures)  # the smallest, not a copy
    assert seen["unbatched"].error == "IndexError" and "got 2" in seen["unbatched"].message
    assert (seen["bmm_4d"].error, seen["bmm_4d"].message) == (
        "RuntimeError",
        "batch1 must be a 3D tensor",
    )
    assert "2x50 and 1x1" in seen["fc_width"].message
    assert seen["scalar_unsqueeze"].error == seen["scalar_size"].error == "IndexError"
    assert "Float" in seen["int_target"].message and "Long" in seen["int_target"].message
    assert {f.section for f in ex.failures} == {"5.2.2", "5.2.3", "5.2.4"}


def test_001_5_2_walks_are_the_trained_model_with_its_bias_and_padding_masked(fitted):
    ex = examples.run("001-5.2")
    model, ids, *_ = fitted
    ids_shown = ex.inputs[0].values  # "abc", "ca" + <PAD>: a=1, b=2, c=3 in alphabetic order
    close(ids_shown, [[1, 2, 3], [3, 1, 0]])
    table = ex.inputs[1].values  # (alphabet, E)
    w = model.gate.w.detach().double().numpy()
    b = model.gate.b.item()
    assert abs(b) > 1e-3  # the bias is really there, and really added
    for walk, row in zip(ex.steps, ids_shown, strict=True):
        step = walk.step
        by_hand = [float(table[int(i)] @ w) + b for i in row]  # s_t = w . e_t + b
        close(step.scores[0], by_hand, tol=1e-6)
        assert walk.queries == ("w, b",)
    second = ex.steps[1].step
    assert second.masked[0, 2] == -math.inf and second.weights[0, 2] == 0.0
    close(second.weights[0, :2], softmax(*second.scores[0, :2]), tol=1e-12)
    assert ex.as_written[0].values[1, 2] > 0  # unmasked, <PAD> takes a share
    # the walks agree with the corrected code's own forward pass
    import torch

    with torch.no_grad():
        logits, alpha = model(torch.tensor(ids_shown, dtype=torch.long))
    close([s.step.weights[0] for s in ex.steps], alpha.numpy(), tol=1e-6)
    close(ex.results[1].values[:, 0], logits.numpy(), tol=1e-6)
    close(ex.results[1].values[:, 1], 1 / (1 + np.exp(-logits.numpy())), tol=1e-6)


def test_001_5_2_split_loss_and_shapes_as_written(fitted):
    ex = examples.run("001-5.2")
    tables = {t.caption.rsplit(".", 1)[-1]: t.values for t in ex.as_written}
    # our data: six texts with label 0, then four with label 1; 80 % of 10 = 8 rows train
    close(tables["split"][0], [6, 2])  # first 8 rows: six 0s and two 1s
    close(tables["split"][1], [0, 2])  # last 2 rows: only label 1
    close(tables["split"][2:].sum(axis=0), [6, 4])  # the shuffled split keeps every row
    labels = [label for _, label in c001_52.DATA]
    *_, val_rows, _ = fitted
    ones = sum(labels[i] for i in val_rows)
    close(tables["split"][3], [len(val_rows) - ones, ones])
    per_sample = next(t for t in ex.results if t.caption.endswith("per_sample_loss")).values[:, 0]
    assert len(per_sample) == 8
    close(tables["epoch_loss"][:, 0], [per_sample[-1], sum(per_sample) / 8], tol=1e-7)  # float32
    assert abs(per_sample[-1] - per_sample.mean()) > 1e-4  # the printed number misleads
    shapes = tables["shapes_52"]
    close(shapes[0, :2], [10, 3])  # (N, T) token ids
    close(shapes[1, :1], [3])  # (T,): one sample
    close(shapes[2], [10, 3, 4])  # (N, T, E)
    assert np.isnan(shapes[0, 2]) and np.isnan(shapes[1, 1:]).all()
    assert {"examples.errata.e001_split", "examples.errata.e001_epoch_loss"} <= keys_of(ex)
    assert {"examples.errata.e001_rebind", "examples.errata.e001_ids_embeddings"} <= keys_of(ex)


def test_001_5_2_listing_trains_and_reports_the_mean_loss(fitted):
    ex = examples.run("001-5.2")
    (code,) = ex.listings
    *_, history = fitted
    assert f"epoch 30: mean loss {history[-1]:.4f}" in code.output
    assert history[-1] < history[0] / 10  # it learns the toy task
    assert "validation 1.00" in code.output


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
    # NumPy's errors are said to be NumPy's, beside what TensorFlow itself raises
    string, rank, session = ex.failures
    assert string.framework == rank.framework == "TensorFlow 2" and not session.framework
    assert "float tensor but is a string tensor [Op:MatMul]" in string.framework_error
    assert "Invalid reduction dimension (1 for input with 1 dimension(s)" in rank.framework_error


def test_003_as_written_with_numbers_w_x_is_one_score_with_weight_1():
    ex = examples.run("003-5")
    (one,) = [t.values for t in ex.as_written if t.caption.endswith("one_score")]
    # W = [0.5, -0.5] against one number per word (hello -> 1, world -> 3): 0.5 - 1.5 = -1
    close(one, [[-1.0, 1.0]])  # one score for both words, and its softmax is 1
    shapes = {e.key: e for e in ex.errata}["examples.errata.e003_shapes"]
    assert shapes.at.endswith("one_score")
    assert "softmax of one score is 1" in catalog("en")["examples.errata.e003_shapes"]


# --- 004 -------------------------------------------------------------------------------------


def test_004_is_cross_attention_scaled_by_sqrt_dk_by_hand():
    import torch

    ex = examples.run("004-4")
    images, features, state, attention = c004.demo()
    wq = attention.to_q.weight.detach().numpy()  # (dk, H)
    wk = attention.to_k.weight.detach().numpy()  # (dk, C)
    wv = attention.to_v.weight.detach().numpy()
    f = features.numpy()  # (B, 16, 8)
    s = state.numpy()  # (B, 8)
    assert len(ex.steps) == 2 and "examples.errata.e004_cross" in keys_of(ex)
    for b, walk in enumerate(ex.steps):
        step = walk.step
        q, k, v = s[b] @ wq.T, f[b] @ wk.T, f[b] @ wv.T  # query from the state, k v from features
        assert step.q.shape == (1, 4) and step.weights.shape == (1, 16)
        close(step.q[0], q)
        assert step.scale == 0.5  # 1 / sqrt(d_k), d_k = 4
        scores = k @ q
        close(step.scores[0], scores)
        close(step.weights[0], softmax(*(scores / 2)))
        close(step.context[0], np.array(softmax(*(scores / 2))) @ v)
        assert [name for name, _ in walk.stages] == ["scores", "scaled", "weights", "context"]
    with torch.no_grad():
        weights, context = attention(state, features)  # the corrected code itself
    assert tuple(weights.shape) == (2, 1, 16) and tuple(context.shape) == (2, 1, 4)
    close(weights[:, 0].numpy(), [w.step.weights[0] for w in ex.steps])
    close(ex.inputs[0].values, [[1, 1, 0, 0], [1, 1, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]])
    close(ex.inputs[1].values, [[0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 1, 1], [0, 0, 1, 1]])


def test_004_batch_of_two_broadcasts_to_b_b_t_and_unsqueeze_fixes_it():
    import torch

    ex = examples.run("004-4")
    tables = {t.caption.rsplit(".", 1)[-1]: t.values for t in ex.as_written}
    shapes = tables["broadcast_shapes"]
    close(shapes[0, :2], [2, 4])  # Q: (B, dk)
    close(shapes[1], [2, 16, 4])  # K: (B, T, dk)
    assert np.isnan(shapes[0, 2])
    close(shapes[2], [2, 2, 16])  # as written: (B, B, T)
    close(shapes[3], [2, 1, 16])  # hidden.unsqueeze(1): (B, 1, T)
    # the same with torch itself, B = 2
    q, k = torch.ones(2, 4), torch.ones(2, 16, 4)
    assert tuple((q @ k.transpose(-2, -1)).shape) == (2, 2, 16)
    assert tuple((q.unsqueeze(1) @ k.transpose(-2, -1)).shape) == (2, 1, 16)
    # row (keys of b, query i) = softmax(q_i . k_b / sqrt(8)): query 2 scored on picture 1's keys
    mixed = tables["broadcast_weights"]
    steps = [w.step for w in ex.steps]
    for b in range(2):
        for i in range(2):
            scores = steps[b].k @ steps[i].q[0]
            close(mixed[2 * b + i], softmax(*(scores / math.sqrt(8))))
    own = tables["weights_hidden_size"]
    close(own, [mixed[0], mixed[3]])
    difference = next(t for t in ex.results if t.caption.endswith("weights_difference")).values
    close(difference, np.stack([s.weights[0] for s in steps]) - own)

    def entropy(p):
        return -(p * np.log(p)).sum(axis=-1)

    assert (entropy(own) >= entropy(np.stack([s.weights[0] for s in steps])) - 1e-12).all()


def test_004_failures_name_the_missing_weight_and_numpy():
    ex = examples.run("004-4")
    (undefined, no_numpy) = ex.failures
    assert undefined.error == "AttributeError" and "weight1" in undefined.message
    assert no_numpy.error == "NameError" and "'np'" in no_numpy.message
    assert (undefined.section, undefined.lines) == ("4", (66, 66))


# --- 000 -------------------------------------------------------------------------------------


def test_000_softmax_dim1_normalises_over_the_batch():
    ex = examples.run("000-code")
    gate_t1, gate_sum, gated_t1, batch_of_one, unbatched = (t.values for t in ex.as_written)
    close(gate_t1.sum(axis=0), np.ones(gate_t1.shape[1]))  # columns sum to 1 over the batch
    close(gate_sum, np.ones_like(gate_sum))  # = 1 at every time step, every feature
    assert (batch_of_one == 1.0).all()  # softmax over an axis of length 1
    close(unbatched.sum(axis=1), np.ones(unbatched.shape[0]))  # unbatched: over the features
    encoder_t1 = ex.inputs[1].values
    close(gated_t1, encoder_t1 * gate_t1)  # an elementwise gate, not a weighted sum
    assert catalog("en")["examples.table.gate_sum_batch"].count("= 1") == 1


def test_000_corrected_scores_include_the_bias_and_weights_are_over_time():
    ex = examples.run("000-code")
    w, b = ex.inputs[2].values[0, :-1], ex.inputs[2].values[0, -1]
    assert abs(b) > 1e-3
    alpha = ex.results[0].values
    for i, walk in enumerate(ex.steps):
        step = walk.step
        assert step.weights.shape == (1, 5) and walk.queries == ("w, b",)
        close(step.scores[0], step.k @ w + b)  # s_t = w . h_t + b
        assert np.abs(step.scores[0] - step.k @ w).min() > 1e-3  # not w . h_t alone
        close(step.weights[0], softmax(*step.scores[0]))
        close(step.context, step.weights @ step.v)
        close(step.k[0], ex.inputs[1].values[i])  # the keys are that sequence's encoder states
        close(alpha[i], step.weights[0])  # the corrected code's own alpha
        close(ex.results[1].values[i], step.context[0])
        assert [name for name, _ in walk.stages] == ["scores", "weights", "context"]
        assert step.weights.std() > 0.01  # the seeded scorer does not give uniform weights


# --- errata, listings, own words -------------------------------------------------------------

# Fragments of the articles' code (short, for this check only): none may appear in our code.
ARTICLE_FRAGMENTS = (
    "torch.mul(x, attention_weights)",
    "R[i][j] / sum(R[i])",
    "torch.bmm(weights.unsqueeze(1), embed)",
    "self.attention(embed).squeeze(2)",
    "attention_weights = np.zeros",
    "np.dot(input_sequence, attention_weights)",
    "tf.nn.softmax(W @ X1)",
    "torch.matmul(hidden, self.weight1)",
    "np.sqrt(self.hidden_size)",
)


def all_places(ex) -> set[str]:
    return {
        *(w.caption for w in ex.steps),
        *(t.caption for t in (*ex.inputs, *ex.as_written, *ex.results)),
        *(f.caption for f in ex.failures),
        *(c.caption for c in ex.listings),
        "",
    }


@pytest.mark.parametrize("name", examples.names())
def test_each_erratum_is_attached_to_a_place_of_its_example_with_lines(name):
    ex = examples.run(name)
    places = all_places(ex)
    assert ex.errata
    for erratum in ex.errata:
        assert erratum.at in places, (name, erratum.key, erratum.at)
        assert erratum.kind in ("math", "code", "refs") and 0 < erratum.lines[0] <= erratum.lines[1]
        # a numbered section, or one of article 000's named parts, which the page names in words
        assert erratum.section[0].isdigit() or f"examples.page.part_{erratum.section}" in catalog(
            "zh"
        )
        for section, lines in erratum.also:  # where the article says it again
            assert section[0].isdigit() and 0 < lines[0] <= lines[1]
        # the corrected code says where it fixes an error (a note corrects nothing)
        if erratum.kind == "code" and ex.listings and not erratum.note:
            assert any(code.line_of(erratum.key) for code in ex.listings), erratum.key
    # ranked: errors before notes; math, then code, then references, on every place
    for place in places:
        order = [(e.note, ("math", "code", "refs").index(e.kind)) for e in ex.errata_at(place)]
        assert order == sorted(order)


def test_the_index_slip_is_attached_to_4_2_as_well_as_3_2():
    for name in ("001-4.2", "001-4.4"):  # beside y_i = sum_j w_i x_j, both where it is shown
        index = {e.key: e for e in examples.run(name).errata}["examples.errata.e001_index_4"]
        assert index.at == "examples.step.values_x"
        assert (index.lines, index.also) == ((213, 213), (("4.3", (242, 242)),))
    assert "examples.errata.e001_index" in keys_of(examples.run("001-3.2"))


def test_unverifiable_citations_are_worded_as_unverifiable():
    refs = {e.key: e for e in (*examples.ARTICLE_ERRATA["001"], *examples.ARTICLE_ERRATA["003"])}
    for key in ("examples.errata.e001_unverifiable", "examples.errata.e003_ref_tutorial"):
        assert refs[key].kind == "refs"
        en = catalog("en")[key]
        assert "cannot be" in en and "invented" not in en and "fake" not in en
    order = [
        (e.note, ("math", "code", "refs").index(e.kind)) for e in examples.ARTICLE_ERRATA["001"]
    ]
    assert order == sorted(order)  # errors before notes, then math, code, references


def test_reworded_errata_say_what_the_issue_asked():
    en = catalog("en")
    assert "mean 0" in en["examples.errata.e001_sqrt_reason"]
    assert "variance 1" in en["examples.errata.e001_sqrt_reason"]
    assert "build a graph first" not in en["examples.errata.e003_tf_versions"]
    assert "cannot produce" not in en["examples.errata.e004_pooling"]
    assert "learned projections" in en["examples.errata.e004_pooling"]
    assert "2/3" in en["examples.errata.e001_values"]
    assert "0.6096" in en["examples.errata.e001_values"]
    assert "second computation" not in en["examples.errata.e001_values"]
    assert all("on the left" not in text for text in catalog("en").values())
    assert all("左侧" not in text for text in catalog("zh").values())


@pytest.mark.parametrize("name", [n for n in examples.names() if examples.run(n).listings])
def test_listings_are_our_code_run_for_their_output(name):
    ex = examples.run(name)
    for code in ex.listings:
        assert code.output.strip() and code.module.startswith("attnviz.examples.code.")
        assert code.lines[0] < code.lines[1]
        assert not [f for f in ARTICLE_FRAGMENTS if f in code.source]
    for failure in ex.failures:
        assert not [f for f in ARTICLE_FRAGMENTS if f in failure.code]


def test_no_article_code_anywhere_in_the_examples_package():
    from pathlib import Path

    package = Path(examples.__file__).parent
    for path in package.rglob("*.py"):
        text = path.read_text("utf-8")
        assert not [f for f in ARTICLE_FRAGMENTS if f in text], path


def test_numpy_listings_run_on_their_own_and_print_what_the_page_shows():
    import subprocess
    import sys

    for name, module in (("002-4", "c002"), ("003-5", "c003"), ("001-3.2", "c001_33")):
        (code,) = examples.run(name).listings
        done = subprocess.run(
            [sys.executable, "-m", f"attnviz.examples.code.{module}"],
            capture_output=True,
            text=True,
            check=True,
        )
        assert done.stdout == code.output


def test_listing_numbers_by_hand():
    out002 = examples.run("002-4").listings[0].output
    assert "row sums = [1. 1. 1.]" in out002
    a1, a2 = 1 / (1 + math.exp(2.5)), math.exp(2.5) / (1 + math.exp(2.5))
    out003 = examples.run("003-5").listings[0].output
    assert f"Y = [ {a1 + 3 * a2:.4f} {2 * a1 - a2:.4f}]" in out003
    assert f"alpha = [{a1:.4f} {a2:.4f}]" in out003


# --- notation and order ----------------------------------------------------------------------


def test_path_opens_on_4_4_and_covers_every_example_once():
    assert examples.START == examples.PATH[0] == "001-4.4"
    assert sorted(examples.PATH) == sorted(examples.names())


def test_step_labels_use_the_article_notation_and_scaled_only_when_scaled():
    walk = examples.run("001-4.4").steps[0]
    assert walk.stages == (
        ("scores", "Q·Kᵢ"),
        ("scaled", "aᵢ = Q·Kᵢ/√dₖ"),
        ("weights", "wᵢ"),
        ("context", "y (Vᵢ = xᵢ)"),
    )
    # 001-3.2's weights depend on i and j: the tab says so, as its erratum asks
    assert dict(examples.run("001-3.2").steps[0].stages)["weights"] == "wᵢⱼ"
    three = examples.run("001-4.4").steps[2]  # three queries: w_ij, y_i, in its formulas too
    assert dict(three.stages)["weights"] == "wᵢⱼ" and "w_{ij}" in three.formulas[-1]
    assert dict(examples.run("002-4").steps[0].stages)["weights"] == "αᵢⱼ"
    for name in examples.names():
        for walk in examples.run(name).steps:
            scaled = walk.step.scale != 1 or walk.step.temperature != 1
            assert ("scaled" in dict(walk.stages)) == scaled, (name, walk.caption)
            assert "c" not in walk.queries  # c is the output, never the query row


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


def texts(payload) -> list[str]:
    """Every caption, note and title of a JSON payload."""
    out = [payload["title"], payload["summary"], payload["intro"]]
    for group in ("inputs", "as_written", "results", "steps", "failures", "listings"):
        out += [item["caption"] for item in payload[group]]
    out += [e["text"] for e in payload["errata"] + payload["article_errata"]]
    out += [e["at"] for e in payload["errata"] if e["at"]]
    return out


@pytest.mark.parametrize("lang", LANGS)
def test_cli_prints_caption_and_note_text_in_the_chosen_language(lang, capsys):
    from attnviz.__main__ import main

    assert main(["example", "004-4", "--json", "--lang", lang]) == 0
    payload = json.loads(capsys.readouterr().out)
    words = catalog(lang)
    assert payload["title"] == words["examples.title.004-4"]
    assert not [text for text in texts(payload) if text.startswith("examples.")]
    assert words["examples.errata.e004_broadcast"] in [e["text"] for e in payload["errata"]]
    broadcast = next(
        e for e in payload["errata"] if e["text"] == words["examples.errata.e004_broadcast"]
    )
    assert broadcast["fixed_at"] == {"attnviz.examples.code.c004": 26}
    assert payload["steps"][0]["stages"]["weights"] == "softmax(QKᵀ/√dₖ)"


def test_every_catalog_key_exists_in_both_languages():
    for name in examples.names():
        ex = examples.run(name)
        keys = [ex.title, ex.summary, ex.intro, *(e.key for e in ex.errata)]
        keys += [e.key for e in examples.ARTICLE_ERRATA[ex.article]]
        keys += [w.caption for w in ex.steps] + [f.caption for f in ex.failures]
        keys += [c.caption for c in ex.listings]
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
            assert f"examples.article_summary.{article}" in catalog(lang)


def test_errata_keys_are_used_exactly_once_and_none_is_orphaned():
    used = [e.key for name in examples.names() for e in examples.run(name).errata]
    used += [e.key for errata in examples.ARTICLE_ERRATA.values() for e in errata]
    repeated = {k for k, n in Counter(used).items() if n > 1}
    # §4.2's formulas and §4.4's example, where each is shown
    assert repeated == {"examples.errata.e001_values", "examples.errata.e001_index_4"}
    defined = {k for k in catalog("en") if k.startswith("examples.errata.")}
    assert defined == set(used)


def test_results_are_frozen():
    ex = examples.run("001-4.4")
    with pytest.raises(ValueError):
        ex.steps[0].step.weights[0, 0] = 1.0
    with pytest.raises(ValueError):
        ex.inputs[0].values[0, 0] = 2.0


# --- the page --------------------------------------------------------------------------------


def open_examples(lang: str, **params: str):
    at = open_app("examples", lang, first_run=False, **params)
    assert not at.exception, [e.message for e in at.exception]
    return at


def shown_errata(at) -> str:
    """Errors (warnings) and notes (information boxes) as the page shows them."""
    return "\n".join(w.value for w in (*at.warning, *at.info))


@pytest.mark.parametrize("lang", LANGS)
def test_page_opens_on_4_4_in_both_languages(lang):
    at = open_examples(lang)
    words = catalog(lang)
    assert at.header[0].value == words["examples.title.001-4.4"]
    assert at.info[0].value == words["examples.summary.001-4.4"]
    assert words["examples.errata.e001_0577"] in shown_errata(at)


def test_page_walks_the_whole_path():
    lang = "zh"  # the other language is opened above; one full walk keeps the suite quick
    at = open_examples(lang)
    words = catalog(lang)
    assert at.title[0].value == words["examples.page.heading"]
    assert at.header[0].value == words["examples.title.001-4.4"]  # the gentlest example first
    assert at.query_params["example"] == "001-4.4"
    for name in examples.PATH:
        at.selectbox(key="examples_path").set_value(name).run()
        assert not at.exception, (name, [e.message for e in at.exception])
        ex = examples.run(name)
        assert at.header[0].value == words[ex.title]
        assert any(words[f"examples.article.{ex.article}"] in m.value for m in at.markdown)
        assert words[f"examples.article_summary.{ex.article}"] in [c.value for c in at.caption]
        assert at.info[0].value == words[ex.summary]
        errata = shown_errata(at)
        assert all(words[e.key] in errata for e in ex.errata), name
        shown_code = [c.value.strip() for c in at.code]
        for code in ex.listings:
            assert code.source.strip() in shown_code and code.output.strip() in shown_code
        for walk in ex.steps:
            index = ex.steps.index(walk)
            if len(ex.steps) > 1:
                at.radio(key=f"{name}_walk").set_value(index).run()
                assert at.query_params["step"] == str(index)
            if len(walk.queries) > 1:
                at.selectbox(key=f"{name}_{index}_query").set_value(len(walk.queries) - 1)
                at.run()
            assert not at.exception, (name, walk.caption, [e.message for e in at.exception])
            query = len(walk.queries) - 1 if len(walk.queries) > 1 else 0
            vector = vector_text(walk.step.context[query], limit=8)
            symbol = walk.notation  # the breakdown speaks the article's notation
            assert at.text[-1].value == t(
                "examples.breakdown.context",
                lang,
                context=symbol["context"],
                weights=short(symbol["weights"]),
                vector=vector,
            ), name
            # and shows a scaled or masked column only where something is scaled or masked
            columns = list(at.dataframe[-1].value.columns)
            assert len(columns) == len(visible(5, walk.skipped)), (name, columns)
            assert symbol["weights"] in columns and t("step.weights", lang) not in columns
            assert (t("step.masked", lang) in columns) == walk.masked, (name, columns)
            for stage in walk.skipped:
                assert words[f"examples.page.skipped_{stage}"] in [c.value for c in at.caption]


def display_values(dataframe) -> list[list[str]]:
    """The cells as the page writes them (the Styler's text), not the numbers behind them."""
    import pyarrow as pa

    data = dataframe.proto.arrow_data.styler.display_values
    return pa.ipc.open_stream(data).read_all().to_pandas().values.tolist() if data else []


def test_page_opens_the_example_and_step_named_in_the_url_and_shows_nan_as_a_dash():
    at = open_examples("zh", example="004-4", step="1")
    assert at.header[0].value == catalog("zh")["examples.title.004-4"]
    assert at.radio(key="004-4_walk").value == 1
    assert at.info[0].value == catalog("zh")["examples.summary.004-4"]
    notes = [catalog("zh")[e.key] for e in examples.run("004-4").errata if e.note]
    assert all(any(n in box.value for n in notes) for box in at.info[1:])  # notes only
    tables = [cells for cells in map(display_values, at.dataframe) if cells]
    # the shapes table: Q is (2, 4), no third axis; as written Q Kᵀ is (2, 2, 16)
    assert next(cells[:2] for cells in tables if cells[0][-1] == "—") == [
        ["2.0000", "4.0000", "—"],
        ["2.0000", "16.0000", "4.0000"],
    ]
    assert not any("nan" in str(cells).lower() or "None" in str(cells) for cells in tables)


def test_page_bad_url_values_get_a_notice_and_the_default():
    at = open_examples("en", example="nope", step="7")
    words = catalog("en")
    assert at.header[0].value == words["examples.title.001-4.4"]
    assert t("link.bad_value", "en", param="example") in [w.value for w in at.warning]
    at = open_examples("en", example="001-4.4", step="7")
    assert t("link.bad_value", "en", param="step") in [w.value for w in at.warning]
    assert at.radio(key="001-4.4_walk").value == 0 and at.query_params["step"] == "0"


# --- the breakdown's layout (figures/breakdown.py) -------------------------------------------


def test_breakdown_figures_are_pure_and_select_columns_by_name():
    import subprocess
    import sys

    code = (
        "import sys, attnviz.figures.breakdown\n"
        "bad = {'torch', 'attnviz.attention', 'streamlit'} & set(sys.modules)\n"
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    from attnviz.figures import breakdown

    assert breakdown.visible(1) == ["key", "k", "scores"]
    assert breakdown.visible(4, ("scaled", "masked")) == ["key", "k", "scores", "exp", "weights"]
    walk = examples.run("002-4").steps[0]
    names = breakdown.headers("en", walk.notation)
    assert (names["scores"], names["weights"]) == ("s(i, j)", "αᵢⱼ")
    assert names["masked"] == t("step.masked", "en")  # no article symbol: our word, translated
    assert names["exp"] == "exp(masked − max)"  # the softmax reads the masked scores ...
    assert breakdown.headers("en", walk.notation, walk.skipped)["exp"] == "exp(s(i, j) − max)"
    four = examples.run("001-4.4").steps[0]  # ... or, with nothing masked, the scaled ones
    assert breakdown.headers("zh", four.notation, four.skipped)["exp"] == "exp(aᵢ − max)"
    assert [
        short(s) for s in ("aᵢ = Q·Kᵢ/√dₖ", "sₜ (Attention Score)", "s(i, j)", "y (Vᵢ = xᵢ)")
    ] == [
        "aᵢ",
        "sₜ",
        "s(i, j)",
        "y",
    ]
    assert breakdown.headers("en")["weights"] == t("step.weights", "en")  # other pages: ours


def test_notes_repeats_and_framework_errors_reach_the_json():
    payload = examples.to_json("004-4", "zh")
    notes = [e for e in payload["errata"] if e["note"]]
    assert [e["text"] for e in notes] == [catalog("zh")["examples.errata.e004_pooling"]]
    pooling = notes[0]
    assert pooling["also"] == [
        {"section": "4", "lines": [88, 88]},
        {"section": "6", "lines": [106, 106]},
    ]
    assert all(e["note"] is False for e in payload["errata"] if e is not pooling)
    # clarifications, not errors, everywhere they are worded as such
    for name, key in (("001-4.2", "e001_sqrt_reason"), ("001-5.2", "e001_loss_name")):
        (erratum,) = [e for e in examples.run(name).errata if e.key.endswith(key)]
        assert erratum.note and not erratum.at.startswith("examples.failure.")
    failures = examples.to_json("003-5")["failures"]
    assert [f["framework"] for f in failures] == ["TensorFlow 2", "TensorFlow 2", ""]
    assert failures[0]["error"] == "UFuncTypeError"  # what ran here, NumPy's
    assert failures[0]["framework_error"].startswith("InvalidArgumentError: cannot compute MatMul")
    steps = examples.to_json("001-5.2")["steps"]
    # "abc" fills the row: nothing masked; "ca" is padded: its <PAD> is masked
    assert [s["skipped"] for s in steps] == [["scaled", "masked"], ["scaled"]]
