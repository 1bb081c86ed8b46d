"""The articles' code examples (001 §5.2, 002, 003, 004, 000): every number against arithmetic
written out by hand here, or against the corrected code's own run."""

from __future__ import annotations

import math

import numpy as np
import pytest
from handwork import close, keys_of, softmax

from attnviz import examples
from attnviz.examples.code import c001_52, c004
from attnviz.i18n import catalog

E = math.e


@pytest.fixture(scope="module")
def fitted():
    """The corrected classifier recipe, run once (it trains for 30 short epochs)."""
    return c001_52.fit()


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
