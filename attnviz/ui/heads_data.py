"""Where the heads page's numbers come from: the models (loaded once per server) and every
result computed from them, in the server's byte-bounded cache (attnviz/ui/cache.py).

A module, not the page: the page's script runs on every rerun.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from attnviz import attribution, intervene, knownheads
from attnviz.ablation import Ablation
from attnviz.errors import InputError
from attnviz.ui import cache

ENCODERS = ("minilm", "e5")
MAX_PROMPT = 64  # tokens the heads page reads: the effect map runs over them 270 times


def known(length: int, seed: int) -> knownheads.KnownHeads:
    return cache.shared().get(
        ("known", length, seed), lambda: knownheads.find(cache.get_model("smollm2"), length, seed)
    )


def copying(length: int, seed: int, k: int) -> knownheads.Copying:
    return cache.shared().get(
        ("copying", length, seed, k),
        lambda: knownheads.copying_test(cache.get_model("smollm2"), known(length, seed), k, seed),
    )


def prompt_ids(text: str) -> np.ndarray:
    """The prompt's ids; InputError when it is empty or longer than MAX_PROMPT tokens."""
    ids = cache.get_model("smollm2").tokenizer.encode(text or "")
    if len(ids) == 0:
        raise InputError("error.generate_empty")
    if len(ids) > MAX_PROMPT:
        raise InputError("error.heads_prompt_long", got=len(ids), limit=MAX_PROMPT)
    return ids


def _decoder_ablation(ids: np.ndarray, heads: frozenset, mode: str) -> Ablation:
    net = cache.get_model("smollm2").net
    return intervene.ablation_for(heads, mode, trace=net(ids)[2] if mode == "mean" else None)


def next_token(text: str, heads: frozenset, mode: str) -> tuple[np.ndarray, np.ndarray]:
    """(clean, ablated) last-position logits (V,) of the prompt."""

    def make():
        ids, net = prompt_ids(text), cache.get_model("smollm2").net
        ablation = _decoder_ablation(ids, heads, mode)
        return intervene.decoder_logits(net, ids), intervene.decoder_logits(net, ids, ablation)

    return cache.shared().get(("next_token", text, heads, mode), make)


def similarity(name: str, a: str, b: str, heads: frozenset, mode: str) -> tuple[float, float]:
    """(clean, ablated) cosine similarity of sentences a and b under encoder `name`."""

    def make():
        model = cache.get_model(name)
        means = intervene.encoder_means(model, (a, b)) if mode == "mean" else None
        ablated = intervene.similarity(model, a, b, Ablation(heads, mode, means))
        return intervene.similarity(model, a, b), ablated

    return cache.shared().get(("similarity", name, a, b, heads, mode), make)


def effect_map(name: str, inputs: tuple, mode: str, progress: Callable[[float], None]):
    """(L, H) single-head ablation effect: KL for the decoder (inputs: the prompt), Δ similarity
    for an encoder (inputs: the two sentences)."""

    def make():
        if name in ENCODERS:
            return intervene.encoder_effect_map(cache.get_model(name), *inputs, mode, progress)
        ids = prompt_ids(inputs[0])
        return intervene.decoder_effect_map(cache.get_model("smollm2").net, ids, mode, progress)

    return cache.shared().get(("effect_map", name, inputs, mode), make)


def has_effect_map(name: str, inputs: tuple, mode: str) -> bool:
    return cache.shared().has(("effect_map", name, inputs, mode))


def classifier_attribution(name: str, sentence: str) -> attribution.Attribution:
    model = cache.get_model(name)
    return cache.shared().get(
        ("attribution", name, sentence), lambda: attribution.classifier(model, sentence)
    )


def decoder_attribution(text: str) -> attribution.Attribution:
    def make():
        prompt_ids(text)  # the same length limit as the rest of the page
        return attribution.decoder(cache.get_model("smollm2"), text)

    return cache.shared().get(("attribution", "smollm2", text), make)


# The two heads the page's teaching text is about, measured live on [BOS] + r + r (N = 32, seed
# 0): 19.9 puts nearly all its weight on the first token, 19.7 has the top induction score.
SINK_HEAD, INDUCTION_HEAD = (18, 8), (18, 6)


def teaching_numbers(prompt: str) -> dict[str, float]:
    """The figures the teaching text quotes, measured now (not written in by hand)."""

    def make():
        decoder, found = cache.get_model("smollm2"), known(32, 0)

        def copy_with(head) -> float:
            logits, _, _ = decoder.net(found.ids, ablation=Ablation(frozenset({head})))
            return knownheads.copying_accuracy(logits.float().numpy(), found.ids, 32)

        v = decoder.net(found.ids)[2].v[SINK_HEAD[0], SINK_HEAD[1] // decoder.config.group]
        length = np.linalg.norm(v, axis=-1)  # (T,) of the value vectors the sink head reads
        five = copying(32, 0, 5)
        clean, sink = next_token(prompt, frozenset({SINK_HEAD}), "zero")
        return {
            "clean": knownheads.copying_accuracy(found.logits, found.ids, 32),
            "sink_weight": float(found.scores["first_token"][SINK_HEAD]),
            "sink_copy": copy_with(SINK_HEAD),
            "sink_kl": intervene.kl(clean, sink),
            "value_ratio": float(length[0] / length[1:].mean()),
            "ind_score": float(found.scores["induction"][INDUCTION_HEAD]),
            "ind_copy": copy_with(INDUCTION_HEAD),
            "top5_copy": five.top,
            "random5_copy": float(np.mean(five.random)),
        }

    return cache.shared().get(("teaching", prompt), make)
