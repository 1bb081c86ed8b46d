"""Token-by-token generation with the decoder: sampling filters, one user's generation, its trace.

    probs = softmax(logits / temperature)             the distribution the model gives
    kept  = top-k largest, then the smallest set whose probs sum to >= top-p
    final = probs on kept, renormalised; greedy takes argmax(logits) instead

A `Generation` is what a page reads of one user's generation (the engine, attnviz/engine.py,
owns and advances it; never the shared model): the ids so far and one `DecoderTrace` per forward
call. Step s is the forward that produced the distribution of new token s + 1: step 0 reads the
whole prompt, step s > 0 reads new token s alone; every step's newest query is position
`prompt_length - 1 + s`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from attnviz.errors import InputError
from attnviz.trace import DecoderTrace, LayerTrace
from attnviz.zoo.llama import Decoder, Prompt

MAX_NEW = 128  # new tokens at most in one generation


@dataclass(frozen=True)
class Sampling:
    """How the next token is picked; checked on creation (InputError in the user's language)."""

    greedy: bool = True
    temperature: float = 1.0
    top_k: int | None = None  # None: no top-k cut
    top_p: float = 1.0

    def __post_init__(self) -> None:
        t = self.temperature
        if not isinstance(t, int | float) or not math.isfinite(t) or t <= 0:
            raise InputError("error.generate_temperature", got=t)
        if self.top_k is not None and (not isinstance(self.top_k, int) or self.top_k < 1):
            raise InputError("error.generate_top_k", got=self.top_k)
        if not isinstance(self.top_p, int | float) or not 0 < self.top_p <= 1:
            raise InputError("error.generate_top_p", got=self.top_p)


def check_max_new(n: object) -> int:
    if not isinstance(n, int) or not 1 <= n <= MAX_NEW:
        raise InputError("error.generate_max_new", got=n, limit=MAX_NEW)
    return n


def softmax(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    e = np.exp(x - x.max())
    return e / e.sum()


def distribution(logits: np.ndarray, sampling: Sampling) -> tuple[np.ndarray, np.ndarray]:
    """(probs, final), both (V,): the model's probabilities at the temperature, and what is left
    to draw from after top-k and top-p (renormalised; one-hot on argmax when greedy)."""
    if sampling.greedy:
        probs = softmax(logits)
        final = np.zeros_like(probs)
        final[int(np.argmax(logits))] = 1.0
        return probs, final
    probs = softmax(np.asarray(logits, dtype=np.float64) / sampling.temperature)
    order = np.argsort(-probs, kind="stable")  # (V,) most likely first
    kept = np.zeros(len(probs), dtype=bool)
    kept[order[: sampling.top_k or len(probs)]] = True
    ranked = probs[order] * kept[order]
    ranked = ranked / ranked.sum()
    # the smallest prefix reaching top_p; the most likely token always stays
    inside = np.cumsum(ranked) - ranked < sampling.top_p
    kept[order[~inside]] = False
    final = np.where(kept, probs, 0.0)
    return probs, final / final.sum()


def choose(logits: np.ndarray, sampling: Sampling, rng: np.random.Generator) -> int:
    """The next token: the most likely (greedy: the argmax of the logits, which is the argmax of
    every softmax of them; the engine picks 40 a step), or one drawn from `distribution`."""
    if sampling.greedy:
        return int(np.argmax(logits))
    _, final = distribution(logits, sampling)
    return int(rng.choice(len(final), p=final))


@dataclass(frozen=True, eq=False)
class Generation:
    """What a page reads of one generation at one moment (the engine owns the generation itself
    and hands out these snapshots, see attnviz/engine.py): ids = prompt + new tokens, one trace
    per step, len(ids) == prompt_length + len(steps) - 1; while running, ids end with the token
    its last step chose, which the next step reads (len(ids) == prompt_length + len(steps))."""

    prompt_length: int
    ids: tuple[int, ...]
    steps: tuple[DecoderTrace, ...]
    target: int = MAX_NEW  # new tokens asked for
    sampling: Sampling = Sampling()
    status: str = "done"  # queued, running, done, cancelled or failed
    place: int = 0  # 1, 2, ... in the queue while queued
    seed: int = 0  # of the random generator that drew its tokens (sampling)

    @property
    def new_ids(self) -> tuple[int, ...]:
        return self.ids[self.prompt_length :]

    @property
    def live(self) -> bool:
        return self.status in ("queued", "running")


def ended(ids, prompt_length: int, eos: int, target: int) -> bool:
    """Done: `target` new tokens, or the last one is end-of-text."""
    new = ids[prompt_length:]
    return len(new) >= target or (len(new) > 0 and new[-1] == eos)


def can_branch(gen: Generation, step: int, eos: int) -> bool:
    """Whether picking another token at `step` stays within the generation: the token limit, and
    not past end-of-text (the step's newest token is not end-of-text)."""
    if not 0 <= step < len(gen.steps) or step + 1 > gen.target:
        return False
    return step == 0 or gen.ids[gen.prompt_length + step - 1] != eos


def readable(tokenizer, ids) -> str:
    """The text of `ids`, each control token (end-of-text <|im_end|> ...) written as a visible
    marker, ⟨im_end⟩, never as the raw string a reader would take for text of the model's."""
    parts, run = [], []
    for i in ids:
        if int(i) in tokenizer.special:
            parts += [tokenizer.decode(run), f"⟨{tokenizer.labels([i])[0].strip('<|>')}⟩"]
            run = []
        else:
            run.append(i)
    return "".join(parts) + tokenizer.decode(run)


def check_seed(seed: object) -> int:
    if not isinstance(seed, int) or not 0 <= seed < 2**32:
        raise InputError("error.generate_seed", got=seed, limit=2**32 - 1)
    return seed


def attentions(gen: Generation, step: int) -> np.ndarray:
    """(L, H, T, T) weights of positions 0..T-1, T = prompt_length + step (0 above the diagonal)."""
    first = gen.steps[0].weights  # (L, H, P, P)
    n_layers, n_heads, p, _ = first.shape
    t = p + step
    out = np.zeros((n_layers, n_heads, t, t), dtype=np.float32)
    out[:, :, :p, :p] = first
    for s in range(1, step + 1):
        out[:, :, p + s - 1, : p + s] = gen.steps[s].weights[:, :, 0]
    return out


def _keys(gen: Generation, step: int, name: str) -> np.ndarray:
    """(L, Hkv, T, Dh) of k, k_raw or v for positions 0..T-1 at a step."""
    return np.concatenate([getattr(s, name) for s in gen.steps[: step + 1]], axis=2)


def newest_layer(gen: Generation, step: int, layer: int, group: int) -> LayerTrace:
    """The newest query of a step in one layer, as a LayerTrace for `attention.breakdown`."""
    last = gen.steps[step]
    k = _keys(gen, step, "k")[layer].repeat(group, axis=0)  # (H, T, Dh)
    v = _keys(gen, step, "v")[layer].repeat(group, axis=0)  # (H, T, Dh)
    weights = last.weights[layer][:, -1:]  # (H, 1, T)
    return LayerTrace(
        q=last.q[layer][:, -1:],  # (H, 1, Dh)
        k=k,
        v=v,
        weights=weights,
        context=weights @ v,  # (H, 1, Dh)
        allowed=np.ones((1, k.shape[1]), dtype=bool),  # every earlier key: the causal mask's row
        score="scaled_dot",
        scale=1 / math.sqrt(k.shape[-1]),
    )


def arrays(gen: Generation, labels: tuple[str, ...]) -> dict[str, np.ndarray]:
    """The whole generation for an .npz download: ids, tokens, every step's numbers."""
    last = len(gen.steps) - 1
    return {
        "ids": np.asarray(gen.ids, dtype=np.int64),  # (T,)
        "tokens": np.array(labels, dtype=str),  # (T,)
        "prompt_length": np.array(gen.prompt_length),
        "attentions": attentions(gen, last),  # (L, H, T, T)
        "logits": np.stack([s.logits for s in gen.steps]),  # (S, V) step s -> new token s + 1
        "q_raw": np.concatenate([s.q_raw for s in gen.steps], axis=2),  # (L, H, T, Dh)
        "q": np.concatenate([s.q for s in gen.steps], axis=2),  # (L, H, T, Dh) after RoPE
        "k_raw": _keys(gen, last, "k_raw"),  # (L, Hkv, T, Dh)
        "k": _keys(gen, last, "k"),  # (L, Hkv, T, Dh) after RoPE
        "v": _keys(gen, last, "v"),  # (L, Hkv, T, Dh)
    }


def run(decoder: Decoder, prompt: Prompt, sampling: Sampling, max_new: int, seed=None):
    """Generate up to `max_new` tokens alone (the CLI: one process, one prompt, no engine);
    yields each new token id as soon as it is chosen."""
    net, eos = decoder.net, decoder.tokenizer.eos
    cache = net.empty_cache(len(prompt.ids) + check_max_new(max_new))
    rng = np.random.default_rng(None if seed is None else check_seed(seed))
    trace = net(prompt.ids, cache)[2]
    for n in range(max_new):
        token = choose(trace.logits, sampling, rng)
        yield token
        if token == eos or n + 1 == max_new:
            return
        trace = net([token], cache)[2]


def value_ratio(layer: LayerTrace) -> float:
    """How long the first token's value vectors are compared with the other tokens' (mean over
    heads): a sink whose values are short changes the context little. NaN with one token."""
    norms = np.linalg.norm(layer.v, axis=-1)  # (H, T)
    if norms.shape[1] < 2:
        return float("nan")
    return float(norms[:, 0].mean() / norms[:, 1:].mean())
