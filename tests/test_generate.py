"""Generation: sampling filters by hand, one user's generation, the CLI and the generate page."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import open_app
from streamlit.testing.v1 import AppTest

from attnviz import generation
from attnviz.__main__ import main
from attnviz.engine import Engine
from attnviz.errors import InputError
from attnviz.i18n import t
from attnviz.zoo import llama

PROMPT = "The capital of France is"


# ---------------------------------------------------------------- sampling, by hand


def test_filters_by_hand():
    logits = np.log(np.array([0.5, 0.25, 0.15, 0.1]))
    probs, final = generation.distribution(logits, generation.Sampling(greedy=True))
    np.testing.assert_allclose(probs, [0.5, 0.25, 0.15, 0.1])
    assert final.tolist() == [1, 0, 0, 0]
    # top-k 2: 0.5 and 0.25 stay, renormalised to 2/3 and 1/3
    _, final = generation.distribution(logits, generation.Sampling(greedy=False, top_k=2))
    np.testing.assert_allclose(final, [2 / 3, 1 / 3, 0, 0])
    # top-p 0.7: 0.5 is not enough, 0.5 + 0.25 reaches it; 0.15 and 0.1 are cut
    _, final = generation.distribution(logits, generation.Sampling(greedy=False, top_p=0.7))
    np.testing.assert_allclose(final, [2 / 3, 1 / 3, 0, 0])
    # top-p 0.75 is reached exactly by the first two as well; 0.76 needs the third
    _, final = generation.distribution(logits, generation.Sampling(greedy=False, top_p=0.76))
    np.testing.assert_allclose(final, np.array([0.5, 0.25, 0.15, 0]) / 0.9)
    # temperature 2 is the square root of the probabilities, renormalised
    probs, _ = generation.distribution(logits, generation.Sampling(greedy=False, temperature=2))
    root = np.sqrt([0.5, 0.25, 0.15, 0.1])
    np.testing.assert_allclose(probs, root / root.sum())
    rng = np.random.default_rng(0)
    picks = {generation.choose(logits, generation.Sampling(False, top_k=2), rng) for _ in range(50)}
    assert picks == {0, 1}


def test_top_ids_and_greedy_choice_are_the_plain_definitions():
    """top_ids sorts only the likeliest tokens and greedy choose takes the logits' argmax: the
    same answers as a stable sort of the whole vocabulary and the argmax of the softmax."""
    from attnviz.figures.generate import top_ids

    rng = np.random.default_rng(0)
    for trial in range(60):
        probs = rng.random(int(rng.integers(1, 3000)))
        if trial % 2:
            probs = np.round(probs, 2)  # ties, broken by the lower id
        n = int(rng.integers(1, 40))
        np.testing.assert_array_equal(top_ids(probs, n), np.argsort(-probs, kind="stable")[:n])
        logits = np.log(probs + 1e-9)
        chosen = generation.choose(logits, generation.Sampling(), rng)
        assert chosen == int(np.argmax(generation.softmax(logits)))


@pytest.mark.parametrize(
    ("options", "key"),
    [
        ({"temperature": 0.0}, "error.generate_temperature"),
        ({"temperature": -1.0}, "error.generate_temperature"),
        ({"temperature": float("nan")}, "error.generate_temperature"),
        ({"top_k": 0}, "error.generate_top_k"),
        ({"top_p": 0.0}, "error.generate_top_p"),
        ({"top_p": 1.5}, "error.generate_top_p"),
    ],
)
def test_bad_sampling_is_an_input_error_in_both_languages(options, key):
    with pytest.raises(InputError) as caught:
        generation.Sampling(greedy=False, **options)
    assert caught.value.key == key
    for lang in ("en", "zh"):
        assert t(key, lang, **caught.value.params)
    for n in (0, generation.MAX_NEW + 1, 2.5):
        with pytest.raises(InputError, match="generate_max_new"):
            generation.check_max_new(n)


# ---------------------------------------------------------------- one generation


def test_long_prompt_is_cut_and_says_where(smollm2):
    prompt = smollm2.prompt("word " * 300)
    assert len(prompt.ids) == llama.MAX_PROMPT
    assert prompt.dropped == len(smollm2.tokenizer.encode("word " * 300)) - llama.MAX_PROMPT
    for text in ("", "   \n", None):
        with pytest.raises(InputError, match="generate_empty"):
            smollm2.prompt(text)


def test_generation_views_and_arrays(smollm2):
    net = smollm2.net
    engine = Engine(net, smollm2.tokenizer.eos)
    handle = engine.submit(smollm2.prompt(PROMPT), generation.Sampling(), 3)
    gen = engine.result(handle, 600)
    assert smollm2.tokenizer.decode(gen.new_ids).startswith(" Paris")
    # the assembled matrix equals one forward over the whole sequence
    full = net(gen.ids[:-1])[2].weights  # positions 0..T-2: what step 2 saw
    np.testing.assert_allclose(generation.attentions(gen, 2), full, atol=1e-5)
    # the breakdown's layer: the newest query of step 2 in layer 4
    layer = generation.newest_layer(gen, 2, 4, smollm2.config.group)
    assert layer.q.shape == (9, 1, 64) and layer.k.shape == (9, len(gen.ids) - 1, 64)
    np.testing.assert_allclose(layer.weights[:, 0], full[4, :, -1], atol=1e-6)
    arrays = generation.arrays(gen, smollm2.tokenizer.labels(gen.ids))
    t_ = len(gen.ids)
    assert arrays["attentions"].shape == (30, 9, t_, t_)
    assert arrays["logits"].shape == (4, 49152)
    assert arrays["k"].shape == (30, 3, t_, 64) and arrays["q_raw"].shape == (30, 9, t_, 64)
    np.testing.assert_allclose(arrays["logits"][-1], net(gen.ids)[0][-1].numpy(), atol=1e-4)


# ---------------------------------------------------------------- CLI


def test_cli_trace_and_generate(smollm2, monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(llama, "load", lambda: smollm2)
    out = tmp_path / "t.npz"
    assert main(["trace", "--model", "smollm2", "--text", PROMPT, "--out", str(out)]) == 0
    with np.load(out) as f:
        assert f["attentions"].shape == (30, 9, 5, 5) and f["logits"].shape == (49152,)
        assert f["tokens"].tolist() == ["The", " capital", " of", " France", " is"]
        assert int(np.argmax(f["logits"])) == smollm2.tokenizer.encode(" Paris")[0]
    capsys.readouterr()
    assert main(["generate", "--model", "smollm2", "--text", PROMPT, "--max-new-tokens", "2"]) == 0
    assert capsys.readouterr().out.startswith(" Paris")
    for bad in (
        ["--temperature", "0"],
        ["--top-k", "0"],
        ["--top-p", "1.5"],
        ["--max-new-tokens", "0"],
    ):
        assert main(["generate", "--model", "smollm2", "--text", PROMPT, *bad]) == 2
        assert capsys.readouterr().err.startswith("error: ")


# ---------------------------------------------------------------- page


def open_page(lang: str) -> AppTest:
    return open_app("generate", lang, timeout=600)


def generated(at: AppTest) -> generation.Generation:
    handle = at.session_state["gen_handle"]
    return handle.job.snapshot(0)


def test_page_generates_and_shows_every_view(smollm2, monkeypatch):
    monkeypatch.setattr(llama, "load", lambda: smollm2)
    at = open_page("en")
    assert not at.exception, [e.message for e in at.exception]
    # a first visit opens on the example, made once per server, on its first step
    assert "gen_handle" not in at.session_state and at.slider(key="gen_step").value == 0
    assert at.subheader[0].value == t("generate.candidates_title", "en", step=0, token="' is'")
    at.number_input(key="gen_max_new").set_value(2).run()
    at.button(key="gen_start").click().run()
    assert not at.exception, [e.message for e in at.exception]
    shown = " ".join(x.value for x in at.text)
    assert " Paris" in shown
    gen = generated(at)
    assert len(gen.new_ids) == 2 and gen.status == "done"
    for view in ("lines", "overview", "heatmap"):
        at.radio(key="gen_view").set_value(view).run()
        assert not at.exception, view
    assert at.dataframe  # the breakdown table and the key/value groups
    # a rerun reads the same generation: nothing is added twice
    at.run()
    assert generated(at).ids == gen.ids and not at.exception
    # a second user at the same time shares the model but not the generation
    other = open_page("zh")
    assert "gen_handle" not in other.session_state and not other.exception
    assert generated(at).ids == gen.ids
    # a negative seed is a message, and the generation shown stays
    at.button_group(key="gen_decoding").set_value("sample").run()
    at.number_input(key="gen_seed").set_value(-1).run()
    at.button(key="gen_start").click().run()
    assert [e.value for e in at.error] == [t("error.generate_seed", "en", got=-1, limit=2**32 - 1)]
    assert generated(at).ids == gen.ids and not at.exception


def test_page_token_is_text_not_markdown(smollm2, monkeypatch):
    monkeypatch.setattr(llama, "load", lambda: smollm2)
    at = open_page("en")
    at.text_area(key="gen_text").input("__.__ is").run()
    at.number_input(key="gen_max_new").set_value(1).run()
    at.button(key="gen_start").click().run()
    assert not at.exception
    heads = [h.value for h in at.subheader] + [m.value for m in at.markdown]
    assert any("\\_\\_" in h for h in heads)  # escaped: shown as written
    assert not any("'__" in h for h in heads)  # never the raw token, which would turn bold


def test_page_bad_input_in_chinese(smollm2, monkeypatch):
    monkeypatch.setattr(llama, "load", lambda: smollm2)
    at = open_page("zh")
    at.text_area(key="gen_text").input("   ").run()
    at.button(key="gen_start").click().run()
    assert [e.value for e in at.error] == [t("error.generate_empty", "zh")]
    at.button_group(key="gen_decoding").set_value("sample").run()
    at.number_input(key="gen_top_k").set_value(0).run()
    assert [e.value for e in at.error] == [t("error.generate_top_k", "zh", got=0)]
    assert not at.exception


def test_crafted_selection_and_greedy_bars():
    from attnviz.figures import generate as figs

    ids = np.arange(100, 115)
    for index in (1e309, -1e309, float("nan"), 15, -1, 2.5, True, "3", None, [1]):
        assert figs.clicked_token({"selection": {"points": [{"point_index": index}]}}, ids) is None
    for selection in (None, {}, {"selection": "x"}, {"selection": {"points": []}}, [1]):
        assert figs.clicked_token(selection, ids) is None
    assert figs.clicked_token({"selection": {"points": [{"point_index": 3}]}}, ids) == 103
    probs = np.array([0.6, 0.3, 0.1])
    greedy = figs.candidates(np.arange(3), ["a", "b", "c"], probs, None, cut_word="cut")
    assert not any("cut" in text for text in greedy.data[0].text)
    _, final = generation.distribution(np.log(probs), generation.Sampling(greedy=False, top_k=1))
    sampled = figs.candidates(np.arange(3), ["a", "b", "c"], probs, final, cut_word="cut")
    assert [("cut" in text) for text in sampled.data[0].text] == [False, True, True]
