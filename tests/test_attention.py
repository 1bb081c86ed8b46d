"""The attention math, by property and by oracle (torch's fused kernel)."""

import math

import numpy as np
import pytest
import torch

from attnviz import attention
from attnviz.errors import InputError
from attnviz.i18n import LANGS, t

RNG = np.random.default_rng(7)
Q, K, V = RNG.normal(size=(2, 4, 5)), RNG.normal(size=(2, 6, 5)), RNG.normal(size=(2, 6, 3))


def params_for(score, dq=5, dk=5):
    return attention.example_params(score, dq, dk, seed=3)


@pytest.mark.parametrize("score", attention.SCORES)
def test_rows_sum_to_one_and_context_is_weights_times_v(score):
    step = attention.attend(Q, K, V, score=score, params=params_for(score))
    np.testing.assert_allclose(step.weights.sum(-1), 1.0, atol=1e-12)
    assert (step.weights >= 0).all()
    np.testing.assert_allclose(step.context, step.weights @ V, atol=1e-12)


def test_scaled_dot_equals_torch_fused_kernel():
    step = attention.attend(Q, K, V, score="scaled_dot")
    ref = torch.nn.functional.scaled_dot_product_attention(
        torch.tensor(Q), torch.tensor(K), torch.tensor(V)
    )
    np.testing.assert_allclose(step.context, ref.numpy(), atol=1e-12)


def test_causal_equals_torch_fused_kernel_and_masked_keys_get_zero():
    q, k, v = RNG.normal(size=(3, 5, 4)), RNG.normal(size=(3, 5, 4)), RNG.normal(size=(3, 5, 2))
    step = attention.attend(q, k, v, causal=True)
    ref = torch.nn.functional.scaled_dot_product_attention(
        torch.tensor(q), torch.tensor(k), torch.tensor(v), is_causal=True
    )
    np.testing.assert_allclose(step.context, ref.numpy(), atol=1e-12)
    upper = np.triu(np.ones((5, 5), dtype=bool), k=1)
    assert (step.weights[:, upper] == 0).all()
    assert np.isneginf(step.masked[:, upper]).all()


def test_padding_mask_hides_keys_like_torch():
    allowed = np.array([True, True, False, True, False, True])
    step = attention.attend(Q, K, V, allowed=allowed)
    ref = torch.nn.functional.scaled_dot_product_attention(
        torch.tensor(Q), torch.tensor(K), torch.tensor(V), attn_mask=torch.tensor(allowed)
    )
    np.testing.assert_allclose(step.context, ref.numpy(), atol=1e-12)
    assert (step.weights[..., ~allowed] == 0).all()


def test_fully_masked_row_gets_zero_weights_not_nan():
    step = attention.attend(Q[0], K[0], V[0], allowed=np.zeros(6, dtype=bool))
    assert (step.weights == 0).all() and (step.context == 0).all()


def test_temperature_to_zero_gives_argmax_and_large_gives_uniform():
    sharp = attention.attend(Q, K, V, temperature=1e-4)
    argmax = (Q @ K.transpose(0, 2, 1)).argmax(-1)
    np.testing.assert_allclose(sharp.weights.max(-1), 1.0, atol=1e-9)
    assert (sharp.weights.argmax(-1) == argmax).all()
    flat = attention.attend(Q, K, V, temperature=1e6)
    np.testing.assert_allclose(flat.weights, 1 / 6, atol=1e-5)


def test_scaled_dot_divides_by_sqrt_dk():
    step = attention.attend(Q, K, V, score="scaled_dot", temperature=2.0)
    np.testing.assert_allclose(step.scores, Q @ K.transpose(0, 2, 1), atol=1e-12)
    np.testing.assert_allclose(step.scaled, step.scores / math.sqrt(5) / 2.0, atol=1e-12)
    assert step.scale == pytest.approx(1 / math.sqrt(5))


def test_each_score_function_by_hand():
    q, k = np.array([[1.0, 2.0]]), np.array([[3.0, 4.0], [0.0, 0.0]])
    v = np.eye(2)
    assert attention.attend(q, k, v, score="dot").scores.tolist() == [[11.0, 0.0]]
    cos = attention.attend(q, k, v, score="cosine").scores
    np.testing.assert_allclose(cos, [[11 / (math.sqrt(5) * 5), 0.0]])  # zero key -> 0
    dist = attention.attend(q, k, v, score="neg_euclidean").scores
    np.testing.assert_allclose(dist, [[-math.sqrt(8), -math.sqrt(5)]])
    general = attention.attend(q, k, v, score="general", params={"W": [[0, 1], [1, 0]]}).scores
    np.testing.assert_allclose(general, [[1 * 4 + 2 * 3, 0.0]])
    additive = attention.attend(
        q, k, v, score="additive", params={"W1": [[1, 0]], "W2": [[0, 1]], "w": [2.0]}
    ).scores
    np.testing.assert_allclose(additive, [[2 * math.tanh(1 + 4), 2 * math.tanh(1 + 0)]])
    linear = attention.attend(q, k, v, score="linear", params={"w": [1.0, -1.0]}).scores
    np.testing.assert_allclose(linear, [[-1.0, 0.0]])


def test_huge_values_stay_finite():
    q = np.array([[1e30, 1e30]])
    k = np.array([[1e30, 1e30], [1.0, 2.0], [-1e30, 0.0]])
    step = attention.attend(q, k, np.eye(3))
    assert np.isfinite(step.weights).all()
    np.testing.assert_allclose(step.weights, [[1.0, 0.0, 0.0]])


@pytest.mark.parametrize(
    ("args", "key"),
    [
        ((np.ones((2, 3)), np.ones((2, 4)), np.ones((2, 1))), "error.qk_width"),
        ((np.ones((2, 3)), np.ones((2, 3)), np.ones((3, 1))), "error.kv_rows"),
        ((np.ones((2, 0)), np.ones((2, 0)), np.ones((2, 1))), "error.zero_width"),
        ((np.ones((0, 3)), np.ones((2, 3)), np.ones((2, 1))), "error.empty"),
        ((np.array([[np.nan, 1.0]]), np.ones((1, 2)), np.ones((1, 1))), "error.not_finite"),
        ((np.array([[np.inf, 1.0]]), np.ones((1, 2)), np.ones((1, 1))), "error.not_finite"),
        ((np.array([["a", "b"]]), np.ones((1, 2)), np.ones((1, 1))), "error.not_numeric"),
        ((np.ones(3), np.ones((1, 3)), np.ones((1, 1))), "error.not_matrix"),
        ((np.full((1, 2), 1e200), np.full((1, 2), 1e200), np.ones((1, 1))), "error.overflow"),
    ],
)
def test_bad_input_is_a_catalog_message(args, key):
    with pytest.raises(InputError) as info:
        attention.attend(*args)
    assert info.value.key == key
    for lang in LANGS:
        assert t(key, lang, **info.value.params)


def test_bad_temperature_and_params():
    with pytest.raises(InputError, match="error.temperature"):
        attention.attend(Q, K, V, temperature=0.0)
    with pytest.raises(InputError, match="error.param_missing"):
        attention.attend(Q, K, V, score="general")
    with pytest.raises(InputError, match="error.param_shape"):
        attention.attend(Q, K, V, score="general", params={"W": np.eye(3)})


def test_breakdown_of_a_layer_equals_its_weights():
    steps = attention.compute(torch.tensor(Q), torch.tensor(K), torch.tensor(V))
    layer = attention.layer_trace(steps, allowed=np.ones((4, 6), dtype=bool))
    one = attention.breakdown(layer, head=1, query=2)
    np.testing.assert_allclose(one.weights[0], layer.weights[1, 2], atol=1e-12)
    np.testing.assert_allclose(one.context[0], layer.context[1, 2], atol=1e-12)


def test_explain_spells_out_softmax_and_weighted_sum():
    step = attention.attend(Q[0], K[0], V[0], allowed=np.array([1, 1, 1, 0, 1, 1], dtype=bool))
    parts = attention.explain(step, query=1)
    np.testing.assert_allclose(parts.exp / parts.total, step.weights[1], atol=1e-12)
    assert parts.exp[3] == 0
    np.testing.assert_allclose(parts.contributions.sum(0), step.context[1], atol=1e-12)


def test_torch_inputs_stay_on_their_device_and_dtype():
    q = torch.tensor(Q, dtype=torch.float32)
    steps = attention.compute(q, torch.tensor(K, dtype=torch.float32), torch.tensor(V))
    assert steps.context.dtype == torch.float32 and steps.context.device == q.device
    assert steps.weights.dtype == torch.float32


def test_cosine_of_huge_but_finite_vectors_keeps_its_direction():
    q = np.array([[1e200, 1e200, 0.0]])
    k = np.array([[1e200, 1e200, 0.0], [0.0, 0.0, 1.0]])
    step = attention.attend(q, k, np.eye(2), score="cosine")
    np.testing.assert_allclose(step.scores, [[1.0, 0.0]], atol=1e-12)
    e = math.exp(1.0)
    np.testing.assert_allclose(step.weights, [[e / (e + 1), 1 / (e + 1)]], atol=1e-12)


def test_mask_of_the_wrong_shape_is_an_input_error():
    with pytest.raises(InputError, match="error.mask_shape"):
        attention.attend(Q[0], K[0], V[0], allowed=np.ones((2, 2), dtype=bool))
    # a (Tk,) padding mask broadcasts over the queries
    attention.attend(Q[0], K[0], V[0], allowed=np.ones(6, dtype=bool))


@pytest.mark.parametrize(
    "mask",
    [
        {},
        {"causal": True},
        {"allowed": np.array([True, False, True, True, False, True])},
        {"allowed": RNG.random((6, 6)) > 0.4, "causal": True},
    ],
    ids=["none", "causal", "padding", "random+causal"],
)
def test_model_path_equals_teaching_path_and_fused_kernel(mask):
    """`heads` (torch.softmax) gives the written-out softmax's weights and the fused context."""
    q, k, v = (torch.tensor(RNG.normal(size=(3, 6, 8))) for _ in range(3))  # (H, T, Dh)
    fast = attention.heads(q, k, v, **mask)
    slow = attention.compute(q, k, v, score="scaled_dot", **mask)
    torch.testing.assert_close(fast.weights, slow.weights, rtol=0, atol=1e-12)
    torch.testing.assert_close(fast.context, slow.context, rtol=0, atol=1e-12)
    assert fast.scale == slow.scale == 1 / math.sqrt(8)
    keep = torch.ones(6, 6, dtype=torch.bool)
    if "allowed" in mask:
        keep &= torch.as_tensor(mask["allowed"])
    if mask.get("causal"):
        keep &= torch.ones(6, 6, dtype=torch.bool).tril()
    rows = keep.any(-1)  # the fused kernel gives NaN for a row with every key hidden
    oracle = torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=keep)
    torch.testing.assert_close(fast.context[:, rows], oracle[:, rows], rtol=0, atol=1e-12)
    assert (fast.context[:, ~rows] == 0).all() and (fast.weights[:, ~rows] == 0).all()
    assert (fast.weights[:, ~keep] == 0).all()
    layer = attention.layer_trace(fast, keep.numpy())
    last = int(rows.nonzero()[-1])  # a query with a visible key
    one = attention.breakdown(layer, head=2, query=last)
    np.testing.assert_allclose(one.weights[0], layer.weights[2, last], atol=1e-12)


def test_model_path_in_float32_matches_float64_and_reports_overflow():
    q, k, v = (torch.tensor(RNG.normal(size=(2, 5, 4))) for _ in range(3))
    low = attention.heads(q.float(), k.float(), v.float())
    high = attention.heads(q, k, v)
    assert low.weights.dtype == torch.float32
    torch.testing.assert_close(low.weights.double(), high.weights, rtol=0, atol=1e-6)
    with pytest.raises(InputError, match="error.overflow"):
        attention.heads(q * 1e200, k * 1e200, v)
    with pytest.raises(InputError, match="error.overflow"):
        attention.heads(q.float().masked_fill(q > 1, float("nan")), k.float(), v.float())
