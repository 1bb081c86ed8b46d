"""A generation in a link: replayed through the engine, landing on its step; Next and Play."""

from __future__ import annotations

import numpy as np
from conftest import open_app

from attnviz import generation
from attnviz.engine import Engine
from attnviz.i18n import t
from attnviz.zoo import llama

PROMPT = "The capital of France is"


def test_sampled_replay_takes_the_script_and_keeps_the_generator(smollm2):
    engine = Engine(smollm2.net, smollm2.tokenizer.eos)
    prompt = smollm2.prompt(PROMPT)
    sampling = generation.Sampling(greedy=False, temperature=1.5, top_k=40)
    first = engine.result(engine.submit(prompt, sampling, 6, seed=7), 600)
    # a link of the first two tokens (a generation stopped there) replays exactly those, though
    # its limit is 6; one more token at a time (Next) then draws what the original drew
    handle = engine.submit(prompt, sampling, 6, 7, script=first.new_ids[:2])
    again = engine.result(handle, 600)
    assert again.new_ids == first.new_ids[:2] and len(again.steps) == 3 and again.target == 6
    assert not generation.ended(again.ids, again.prompt_length, engine.eos, again.target)
    for made in range(3, 7):
        assert engine.extend(handle)
        again = engine.result(handle, 600)
        assert len(again.new_ids) == made  # one token a press, not on to the limit
    assert again.ids == first.ids
    np.testing.assert_allclose(again.steps[-1].logits, first.steps[-1].logits, atol=1e-4)
    # a token the model would not take is taken all the same, and its step's numbers follow it
    london = smollm2.tokenizer.encode(" London")[0]
    forced = engine.result(engine.submit(prompt, sampling, 3, 7, script=[london]), 600)
    assert forced.new_ids[0] == london
    np.testing.assert_allclose(
        forced.steps[1].logits, smollm2.net([*prompt.ids, london])[0][-1].numpy(), atol=1e-4
    )


def link_page(monkeypatch, smollm2, lang="en", **params):
    monkeypatch.setattr(llama, "load", lambda: smollm2)
    at = open_app("generate", lang, first_run=False, timeout=600, text=PROMPT, **params)
    assert not at.exception, [e.message for e in at.exception]
    return at


def test_link_with_branched_tokens_replays_them_on_its_step(smollm2, monkeypatch):
    tokens = [*smollm2.tokenizer.encode(" London"), *smollm2.tokenizer.encode(",")]
    toks = ",".join(map(str, tokens))
    at = link_page(monkeypatch, smollm2, max_new="3", toks=toks, step="2")
    gen = at.session_state["gen_handle"].job.snapshot(0)
    # exactly the linked tokens, though the limit is 3: the generation was stopped there
    assert gen.new_ids == tuple(tokens)
    assert at.info[0].value == t("generate.stopped", "en", tokens=2)
    assert at.slider(key="gen_step").value == 2
    assert at.subheader[0].value == t("generate.candidates_title", "en", step=2, token="','")
    assert not at.warning
    # the page's own link carries the same tokens and step back out
    at.run()
    assert at.query_params["toks"] == ",".join(map(str, gen.new_ids))
    assert at.query_params["step"] == "2"
    # an edited prompt would replay these tokens after other words: they leave the link
    at.text_area(key="gen_text").input("The capital of Italy is").run()
    assert "toks" not in at.query_params and not at.exception


def test_a_sampled_generation_round_trips_through_its_link(smollm2, monkeypatch):
    at = link_page(monkeypatch, smollm2, decoding="sample", temp="1.4", seed="11", max_new="5")
    at.button(key="gen_start").click().run()
    at.slider(key="gen_step").set_value(3).run()
    made = at.session_state["gen_handle"].job.snapshot(0)
    params = {k: at.query_params[k] for k in at.query_params if k not in ("text", "lang")}
    assert params["toks"] == ",".join(map(str, made.new_ids)) and params["step"] == "3"
    again = link_page(monkeypatch, smollm2, **params)
    assert again.session_state["gen_handle"].job.snapshot(0).ids == made.ids
    assert again.slider(key="gen_step").value == 3 and not again.warning


def test_a_generation_stopped_early_replays_exactly_as_far(smollm2, monkeypatch):
    """Stop pressed after a few tokens of 24: its link replays those tokens and no more."""
    engine = Engine(smollm2.net, smollm2.tokenizer.eos)
    prompt = smollm2.prompt(PROMPT)
    sampling = generation.Sampling(greedy=False, temperature=1.2, top_k=40, top_p=0.95)
    handle = engine.submit(prompt, sampling, 24, seed=3)
    gen = engine.read(handle)
    while len(gen.steps) <= 3:  # three new tokens read (a running one shows one more)
        gen = engine.wait(handle, len(gen.steps), timeout=60)
    engine.cancel(handle.job)  # what the Stop button does
    stopped = engine.result(handle, 600)
    assert 3 <= len(stopped.new_ids) < 24 and stopped.status == "cancelled"
    toks = ",".join(map(str, stopped.new_ids))
    at = link_page(monkeypatch, smollm2, decoding="sample", temp="1.2", top_k="40",
                   top_p="0.95", seed="3", max_new="24", toks=toks, step="1")  # fmt: skip
    again = at.session_state["gen_handle"].job.snapshot(0)
    assert again.ids == stopped.ids and len(again.steps) == len(stopped.steps)
    assert at.info[0].value == t("generate.stopped", "en", tokens=len(stopped.new_ids))
    assert not at.warning
    at.run()  # the replay's own link is the same one
    assert at.query_params["toks"] == toks


def test_link_whose_tokens_cannot_be_reproduced_says_so(smollm2, monkeypatch):
    eos = smollm2.tokenizer.eos
    for lang in ("en", "zh"):
        at = link_page(monkeypatch, smollm2, lang, max_new="4", toks=f"{eos},{eos}")
        assert [w.value for w in at.warning] == [t("generate.replay_differs", lang)]
    # an id outside the vocabulary is refused as a link value, never given to the model
    at = link_page(monkeypatch, smollm2, toks="99999999")
    assert "gen_handle" not in at.session_state
    assert [w.value for w in at.warning] == [t("link.bad_value", "en", param="toks")]


def test_next_steps_then_generates_one_more(smollm2, monkeypatch):
    monkeypatch.setattr(llama, "load", lambda: smollm2)
    at = open_app("generate", "en", timeout=600)
    assert at.slider(key="gen_step").value == 0
    at.button(key="gen_next").click().run()
    assert at.slider(key="gen_step").value == 1 and "gen_handle" not in at.session_state
    at.number_input(key="gen_max_new").set_value(1).run()
    at.button(key="gen_start").click().run()
    assert len(at.session_state["gen_handle"].job.snapshot(0).new_ids) == 1
    at.button(key="gen_next").click().run()  # at the last step: one more token
    assert not at.exception, [e.message for e in at.exception]
    gen = at.session_state["gen_handle"].job.snapshot(0)
    assert len(gen.new_ids) == 2 and gen.status == "done"
    assert gen.new_ids == tuple(generation.run(smollm2, smollm2.prompt(PROMPT),
                                               generation.Sampling(), 2))  # fmt: skip
    assert at.slider(key="gen_step").value == 2


def test_play_steps_to_the_end_and_stops(smollm2, monkeypatch):
    at = link_page(monkeypatch, smollm2, max_new="3")
    at.button(key="gen_start").click().run()
    at.slider(key="gen_step").set_value(0).run()
    at.button(key="gen_play").click().run()  # one step every PLAY_EVERY seconds, then it stops
    assert not at.exception, [e.message for e in at.exception]
    assert at.slider(key="gen_step").value == 3 and not at.session_state["gen_playing"]
    assert at.button(key="gen_play").label == t("generate.play", "en")
