"""The date-rewriting seq2seq models: strict loading, held-out accuracy, the attention they return
(against the score formulas written out in numpy), bad input, the CLI and the recipe end to end."""

import json
import subprocess
import sys
from datetime import date
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import open_app
from safetensors.torch import load_file, save_file

from attnviz import attention, dateforms
from attnviz.__main__ import main
from attnviz.errors import InputError
from attnviz.train import dates
from attnviz.zoo import registry, seq2seq

ROOT = Path(__file__).resolve().parents[1]
NAMES = ("dates-additive", "dates-general")
pytestmark = pytest.mark.skipif(
    not all(registry.installed(name) for name in NAMES),
    reason="models/dates-*/ missing: python -m attnviz.train dates-additive (and dates-general)",
)


@pytest.fixture(scope="module")
def models():
    return {name: seq2seq.load(name) for name in NAMES}


def test_every_form_renders_what_it_says():
    day = date(2026, 11, 22)
    assert dateforms.render("zh_numerals", day) == "二〇二六年十一月二十二日"
    assert dateforms.render("us_short", day) == "11/22/26"
    assert dateforms.render("weekday_d_month_yyyy", day) == "Sunday, 22 November 2026"
    assert dateforms.render("month_dth_yyyy", date(2001, 3, 11)) == "March 11th, 2001"
    assert dateforms.render("zh_numerals", date(1910, 10, 30)) == "一九一〇年十月三十日"
    assert not dateforms.covers("us_short", date(1926, 11, 22))  # 26 means 2026
    assert dateforms.form_of(" 22  Nov 2026 ", day) == "d_mon_yyyy"
    assert dateforms.form_of("22-Nov-2026", day) is None


def test_held_out_days_are_never_trained_on():
    train, held = dates.split()
    assert not set(train) & set(held)
    assert len(train) + len(held) == len(dateforms.all_days())
    assert 0.04 < len(held) / len(dateforms.all_days()) < 0.06


def test_loading_is_strict(models, tmp_path):
    folder = registry.package_file("dates-additive", "config.json").parent
    (tmp_path / "config.json").write_bytes((folder / "config.json").read_bytes())
    tensors = load_file(folder / "model.safetensors")
    save_file(tensors, tmp_path / "model.safetensors")
    assert seq2seq.load("dates-additive", tmp_path).config == models["dates-additive"].config

    missing = dict(tensors)
    missing.pop("bridge.bias")
    save_file(missing, tmp_path / "model.safetensors")
    with pytest.raises(ValueError, match="missing keys"):
        seq2seq.load("dates-additive", tmp_path)
    extra = {**tensors, "score_params.W": torch.zeros(96, 128)}  # a general-model key
    save_file(extra, tmp_path / "model.safetensors")
    with pytest.raises(ValueError, match="unexpected keys"):
        seq2seq.load("dates-additive", tmp_path)
    wrong = {**tensors, "bridge.bias": torch.zeros(95)}
    save_file(wrong, tmp_path / "model.safetensors")
    with pytest.raises(ValueError, match="shape"):
        seq2seq.load("dates-additive", tmp_path)


@pytest.mark.parametrize("name", NAMES)
def test_held_out_accuracy_on_a_small_sample(models, name):
    """25 held-out days per form (300 examples): the stated accuracy holds."""
    _, held_days = dates.split()
    accuracy = dates.evaluate(models[name], dates.held_out_set(held_days, per_form=25))
    overall = float(np.mean(list(accuracy.values())))
    stated = json.loads(registry.package_file(name, "config.json").read_text())["held_out"]
    assert stated["overall"] >= (0.99 if name == "dates-additive" else 0.9)
    assert overall >= stated["overall"] - 0.02, accuracy
    assert min(accuracy.values()) >= 0.9, accuracy


def numpy_scores(score: str, q: np.ndarray, k: np.ndarray, params: dict) -> np.ndarray:
    """The two score functions written out on their own, as the oracle."""
    if score == "additive":
        hidden = np.tanh((q @ params["W1"].T)[:, None, :] + (k @ params["W2"].T)[None, :, :])
        return hidden @ params["w"]  # (Tq, Tk)
    return q @ params["W"] @ k.T


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize(
    "text", ["22 Nov 2026", "二〇二六年十一月二十二日", "11/22/26", "31 Feb 2026"]
)
def test_trace_attention_is_the_formula(models, name, text):
    model = models[name]
    trace = model.trace(text, name)
    step = trace.step
    tq, tk = len(trace.output_tokens), len(trace.input_tokens)
    assert trace.weights.shape == (tq, tk) == (10, len(dateforms.normalize(text)))
    np.testing.assert_allclose(step.weights.sum(axis=1), 1.0, atol=1e-5)
    assert (step.weights >= 0).all()
    params = {k: v.detach().cpu().double().numpy() for k, v in model.score_params.items()}
    q, k = step.q.astype(np.float64), step.k.astype(np.float64)
    scores = numpy_scores(model.config.score, q, k, params)
    np.testing.assert_allclose(step.scores, scores, rtol=1e-4, atol=1e-4)
    weights = np.exp(scores - scores.max(axis=1, keepdims=True))
    weights /= weights.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(step.weights, weights, atol=1e-5)
    np.testing.assert_allclose(step.context, weights @ k, atol=1e-4)
    # the trace's greedy output is the batch path's output
    assert model.predict([dateforms.normalize(text)]) == [trace.prediction]


def test_padding_is_masked_in_a_batch(models):
    """A short input padded in a batch gets weight 0 on the padding and the same output."""
    model = models["dates-general"]
    texts = ["1/2/2003", "Wednesday, 22 September 2010"]
    ids, lengths = model.batch(texts)
    h, s, allowed = model.encode(ids, lengths)
    with torch.inference_mode():
        _, _, steps = model.step(torch.zeros(2, dtype=torch.long), s, h, allowed)
    weights = steps.weights.numpy()  # (2, 1, Tk)
    assert (weights[0, 0, len(texts[0]) :] == 0).all()
    np.testing.assert_allclose(weights.sum(-1), 1.0, atol=1e-6)
    assert model.predict(texts) == [model.trace(t).prediction for t in texts]
    assert model.predict(texts) == ["2003-01-02", "2010-09-22"]


def test_attention_compute_is_differentiable():
    """Training backpropagates through attention.compute (no in-place op under autograd)."""
    q = torch.randn(2, 1, 3, dtype=torch.float64, requires_grad=True)
    k = torch.randn(2, 4, 5, dtype=torch.float64, requires_grad=True)
    w = torch.randn(3, 5, dtype=torch.float64, requires_grad=True)
    allowed = np.array([[[True, True, False, False]], [[True] * 4]])

    def context(q, k, w):
        return attention.compute(q, k, k, score="general", params={"W": w}, allowed=allowed).context

    assert torch.autograd.gradcheck(context, (q, k, w))


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("", "error.date_empty"),
        ("   ", "error.date_empty"),
        ("1" * 10_000, "error.date_too_long"),
        ("😀🎉", "error.date_no_known_chars"),
        ("Привет", "error.date_no_known_chars"),
    ],
)
def test_bad_input_is_refused_with_a_message(models, text, key):
    with pytest.raises(InputError) as caught:
        models["dates-additive"].trace(text)
    assert caught.value.key == key


@pytest.mark.parametrize(
    ("text", "notice"),
    [
        ("31 Feb 2026", "seq2seq.notice.not_a_date"),
        ("22 ноября 2026", "seq2seq.notice.unknown_chars"),
        ("22-Nov-2026", "seq2seq.notice.outside_forms"),
        ("2026年11月22日 😀", "seq2seq.notice.unknown_chars"),
    ],
)
def test_odd_input_is_a_labelled_best_effort(models, text, notice):
    for model in models.values():
        trace = model.trace(text)
        assert len(trace.prediction) == 10
        assert notice in trace.notices()
        assert trace.form is None


def test_in_form_input_has_no_notice(models):
    trace = models["dates-additive"].trace("2026年11月22号")
    assert trace.prediction == "2026-11-22" and trace.form == "zh_hao" and trace.notices() == []


def test_cli_trace_and_predict(capsys, trace_npz):
    saved = trace_npz("--model", "dates-additive", "--text", "22 Nov 2026")
    assert set(saved) == {"input_tokens", "output_tokens", "attentions", "prediction"}
    assert saved["attentions"].shape == (10, 11)
    assert str(saved["prediction"]) == "2026-11-22"
    assert "".join(saved["output_tokens"]) == "2026-11-22"
    assert list(saved["input_tokens"]) == list("22 Nov 2026")
    assert main(["predict", "--model", "dates-general", "--text", "二〇二六年十一月二十二日"]) == 0
    assert capsys.readouterr().out == "2026-11-22\n"
    assert main(["predict", "--model", "dates-additive", "--text", "31 Feb 2026"]) == 0
    captured = capsys.readouterr()
    assert len(captured.out.strip()) == 10 and "note: Best effort" in captured.err
    assert main(["predict", "--model", "dates-additive", "--text", ""]) == 2
    assert capsys.readouterr().err.startswith("error: Type a date")


def test_recipe_runs_end_to_end_on_a_tiny_budget(tmp_path):
    """python -m attnviz.train with a few steps: weights, config and card that load strictly."""
    run = subprocess.run(
        [sys.executable, "-m", "attnviz.train", "dates-general", "--steps", "3", "--batch", "8",
         "--per-form", "2", "--out", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert "held-out exact match" in run.stdout and "zh_numerals" in run.stdout
    assert "3/3" in run.stderr  # the progress bar
    model = seq2seq.load("dates-general", tmp_path)
    assert model.config.score == "general"
    metadata = json.loads((tmp_path / "config.json").read_text())
    assert set(metadata["held_out"]["accuracy"]) == set(dateforms.FORMS)
    assert "python -m attnviz.train dates-general" in (tmp_path / "CARD.md").read_text()
    unknown = subprocess.run(
        [sys.executable, "-m", "attnviz.train", "nope"], cwd=ROOT, capture_output=True, text=True
    )
    assert unknown.returncode != 0 and "dates-additive" in unknown.stderr


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_page_under_apptest(lang):
    from attnviz.i18n import t

    at = open_app("seq2seq", lang)
    assert not at.exception, [e.value for e in at.exception]
    assert at.title[0].value == t("seq2seq.title", lang)
    # the default sample, rewritten by both models, with no notice
    outputs = lambda: [c.value for c in at.code][:2]  # noqa: E731 (then the link box's address)
    assert outputs() == ["2026-11-22", "2026-11-22"]
    assert not at.warning
    assert len(at.get("plotly_chart")) == 3  # two alignments and the animation

    at.selectbox(key="s2s_sample").set_value("us_short").run()
    assert at.text_input(key="s2s_text").value == "11/22/26"
    assert outputs() == ["2026-11-22", "2026-11-22"]
    at.slider(key="s2s_step").set_value(6).run()
    at.radio(key="s2s_breakdown_model").set_value("general").run()
    assert not at.exception
    assert at.subheader[-1].value == t(
        "seq2seq.breakdown_title", lang, step=6, model=t("seq2seq.model.general", lang)
    )
    assert len(at.dataframe[0].value) == len("11/22/26")  # one row per encoder state

    for text, key in (("", "error.date_empty"), ("🙂" * 10_000, "error.date_too_long")):
        at.text_input(key="s2s_text").input(text).run()
        assert not at.exception
        assert [e.value for e in at.error] == [t(key, lang, limit=48, got=len(text))]
    at.text_input(key="s2s_text").input("31 Feb 2026").run()
    assert not at.exception and not at.error
    assert t("seq2seq.notice.not_a_date", lang) in [w.value for w in at.warning]
