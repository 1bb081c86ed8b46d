"""A generation in a link, and the replay scrubber's Play and Next buttons (the generate page).

A link carries the new tokens (`toks`, ids after the prompt) and the step shown (`step`) beside
the prompt and settings. Opening it runs the generation again through the engine with the same
prompt, sampling and seed, taking the linked tokens as it goes and stopping after the last one:
a generation stopped early (Stop, end-of-text) replays exactly as far. The generator still draws
at every step, so Next after a sampled replay draws what the original drew next. The page says
so where the replay did not give the linked tokens (a token after end-of-text, more tokens than
the limit, a run that failed). A generation too long for an address stays out of it.
"""

from __future__ import annotations

import time

import streamlit as st

from attnviz import generation
from attnviz.errors import InputError
from attnviz.ui import state as links
from attnviz.ui import turns
from attnviz.ui.common import t

TOKENS = "toks"
MAX_LINK = 1000  # characters of token ids in a link (the whole address stays under ~3000)
PLAY_EVERY = 0.7  # seconds per step while Play runs
state = st.session_state


def bump() -> None:
    """A new generation or branch: charts keyed by the version forget their old selection, and a
    link's replay notice its old verdict."""
    state.gen_version = state.get("gen_version", 0) + 1
    state.pop("gen_unmatched", None)


def start(engine, decoder, text: str, chat: bool, sampling, max_new: int, seed: int) -> bool:
    """A pasted link's generation, submitted at the page's first run (the URL is read once);
    True when one was. Raises InputError for a prompt or seed the page must explain."""
    codec = links.many(links.integer(0, decoder.config.vocab - 1))
    tokens = links.recall("gen_toks", TOKENS, [], codec)
    if "gen_handle" in state or not tokens or len(tokens) > generation.MAX_NEW:
        return False
    prompt = decoder.prompt(text, chat=chat)
    target = max(max_new, len(tokens))  # "Next" may have gone past the linked limit
    state.gen_handle = engine.submit(
        prompt, sampling, target, generation.check_seed(seed), script=tokens
    )
    state.gen_dropped, state.gen_script = prompt.dropped, tuple(tokens)
    bump()
    return True


def notice(gen: generation.Generation) -> None:
    """Where a replayed link did not give its tokens, a warning until the next generation."""
    script = state.pop("gen_script", None) if not gen.live else None
    if script is not None:
        state.gen_unmatched = tuple(gen.new_ids[: len(script)]) != script
    if state.get("gen_unmatched"):
        st.warning(t("generate.replay_differs"), icon="🔗")


def made_by(gen, decoder, text: str, chat: bool, sampling, seed: int) -> bool:
    """Whether the page's prompt and settings (what a link carries) still make `gen`: edited
    since, they would replay its tokens after another prompt."""
    try:
        ids = tuple(decoder.prompt(text, chat=chat).ids)
    except InputError:
        return False
    if sampling.greedy or gen.sampling.greedy:
        same = sampling.greedy and gen.sampling.greedy
    else:
        same = sampling == gen.sampling and seed == gen.seed
    return same and ids == gen.ids[: gen.prompt_length]


def link_note(gen: generation.Generation | None, linked: bool) -> None:
    """The link's caption and box. `linked`: one's own generation, made by the page's prompt and
    settings, goes into the link when short enough (the shared example needs none: its link
    opens on it anyway)."""
    dumped = ",".join(map(str, gen.new_ids)) if gen is not None and linked and not gen.live else ""
    if dumped and len(dumped) <= MAX_LINK:
        if st.query_params.get(TOKENS) != dumped:
            st.query_params[TOKENS] = dumped
        st.caption(t("generate.link_replay"))
    else:
        links.drop_params(TOKENS)
        st.caption(t("generate.link_too_long" if dumped else "generate.link_note"))
    links.link_box()


def pending() -> None:
    """The step Play or Next asked for in the last run, set before the slider is drawn."""
    if "gen_step_next" in state:
        state.gen_step = state.pop("gen_step_next")


def _toggle() -> None:
    state.gen_playing = not state.get("gen_playing", False)


def controls(engine, gen: generation.Generation, handle, step: int, last: int, places) -> None:
    """Play (one step every PLAY_EVERY seconds, stoppable) and Next (one step; at the last one,
    one more token while the limit allows: one's own copy of the shared example), drawn in the
    two containers `places` (beside the scrubber)."""
    c1, c2 = places
    if step >= last:  # Play stops at the last step (its button says so at once)
        state.gen_playing = False
    playing = state.get("gen_playing", False)
    c1.button(
        t("generate.pause" if playing else "generate.play"), key="gen_play", on_click=_toggle,
        disabled=last == 0,
    )  # fmt: skip
    if not c2.button(t("generate.next"), key="gen_next", help=t("generate.next_help")):
        return
    state.gen_playing = False
    if step < last:
        state.gen_step_next = step + 1
    else:
        handle = handle or engine.own(gen)
        if not engine.extend(handle):
            c2.caption(t("generate.next_end", limit=generation.MAX_NEW))
            return
        state.gen_handle, state.gen_step_next = handle, generation.MAX_NEW  # the new last step
        bump()
    st.rerun()


def advance(step: int, last: int) -> None:
    """At the end of the page: while Play runs, the next step after a pause."""
    if not state.get("gen_playing") or step >= last:
        return
    with turns.aside():  # the pause must not hold the other sessions' turn
        time.sleep(PLAY_EVERY)
    state.gen_step_next = step + 1
    st.rerun()
