"""Known heads found by score on a repeated random sequence, and the copying test.

    ids = [first] + r + r          r: N distinct random ordinary tokens; first: the model's BOS

For a query t in the second copy (positions N+1 .. 2N), the same token sat at t - N:

    induction        weights[t, t - N + 1]   the token that came after it last time
    duplicate_token  weights[t, t - N]       the earlier copy of itself
    previous_token   weights[t, t - 1]       (every t >= 1)
    first_token      weights[t, 0]           the sink (every t >= 1)

each averaged over its queries, per head: (L, H) maps from one forward. In-context copying:
from position N + 1 on, the next token is fully determined by the first copy, so the share of
positions N+1 .. 2N-1 whose argmax is the token that follows is a copying accuracy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from attnviz.ablation import Ablation
from attnviz.errors import InputError

SCORES = ("induction", "previous_token", "first_token", "duplicate_token")
LENGTHS = (8, 128)  # the shortest and longest N accepted
RANDOM_DRAWS = 5  # random head sets behind the "k random heads" accuracy


@dataclass(frozen=True, eq=False)
class KnownHeads:
    ids: np.ndarray  # (1 + 2N,)
    length: int  # N
    weights: np.ndarray  # (L, H, T, T) of the clean forward over ids
    logits: np.ndarray  # (T, V) float32
    scores: dict[str, np.ndarray]  # name -> (L, H)


def check_length(length: int) -> None:
    if not LENGTHS[0] <= length <= LENGTHS[1]:
        raise InputError("error.heads_length", low=LENGTHS[0], high=LENGTHS[1], got=length)


def repeated_ids(vocab: int, special: frozenset[int], first: int, length: int, seed: int):
    """[first] + r + r with r `length` distinct random tokens that are neither control tokens
    nor `first` (a token seen twice inside r would blur the induction target)."""
    check_length(length)
    ordinary = np.setdiff1d(np.arange(vocab), [*special, first])
    r = np.random.default_rng(seed).choice(ordinary, size=length, replace=False)
    return np.concatenate([[first], r, r]).astype(np.int64)  # (1 + 2N,)


def scores(weights: np.ndarray, length: int) -> dict[str, np.ndarray]:
    """The four (L, H) score maps of weights (L, H, T, T) over [first] + r + r, N = length."""
    t = np.arange(length + 1, 2 * length + 1)  # queries of the second copy
    every = np.arange(1, weights.shape[-1])
    return {
        "induction": weights[..., t, t - length + 1].mean(-1),
        "previous_token": weights[..., every, every - 1].mean(-1),
        "first_token": weights[..., every, 0].mean(-1),
        "duplicate_token": weights[..., t, t - length].mean(-1),
    }


def copying_accuracy(logits: np.ndarray, ids: np.ndarray, length: int) -> float:
    """Share of positions N+1 .. 2N-1 whose most likely next token is the one that follows."""
    t = np.arange(length + 1, 2 * length)
    return float((np.asarray(logits)[t].argmax(-1) == ids[t + 1]).mean())


def find(decoder, length: int = 32, seed: int = 0) -> KnownHeads:
    """The four score maps of `decoder` (llama.Decoder) from one forward over [BOS] + r + r."""
    tok, c = decoder.tokenizer, decoder.config
    ids = repeated_ids(c.vocab, tok.special, tok.bos, length, seed)
    logits, _, trace = decoder.net(ids)
    return KnownHeads(
        ids=ids,
        length=length,
        weights=trace.weights,
        logits=logits.float().cpu().numpy(),
        scores=scores(trace.weights, length),
    )


def top_heads(score: np.ndarray, k: int) -> list[tuple[int, int]]:
    """The k heads (layer, head) of highest score, best first."""
    order = np.argsort(-score, axis=None, kind="stable")[:k]
    return [tuple(int(i) for i in np.unravel_index(j, score.shape)) for j in order]


def random_heads(shape: tuple[int, int], k: int, avoid, seed: int) -> list[tuple[int, int]]:
    """k heads drawn at random among those not in `avoid`."""
    pool = [(i, h) for i in range(shape[0]) for h in range(shape[1]) if (i, h) not in set(avoid)]
    picked = np.random.default_rng(seed).choice(len(pool), size=k, replace=False)
    return [pool[j] for j in picked]


@dataclass(frozen=True)
class Copying:
    clean: float
    top: float  # the k best induction heads ablated
    random: tuple[float, ...]  # each of RANDOM_DRAWS sets of k random heads ablated
    top_heads: tuple[tuple[int, int], ...]
    random_heads: tuple[tuple[tuple[int, int], ...], ...]


def copying_test(decoder, known: KnownHeads, k: int, seed: int = 0) -> Copying:
    """Copying accuracy clean, with the top-k induction heads zeroed, and with k random ones."""
    score = known.scores["induction"]
    if not 1 <= k <= score.size // 2:
        raise InputError("error.heads_k", high=score.size // 2, got=k)

    def accuracy(heads) -> float:
        logits, _, _ = decoder.net(known.ids, ablation=Ablation(frozenset(heads)))
        return copying_accuracy(logits.float().cpu().numpy(), known.ids, known.length)

    top = top_heads(score, k)
    draws = [random_heads(score.shape, k, top, seed + d) for d in range(RANDOM_DRAWS)]
    return Copying(
        clean=copying_accuracy(known.logits, known.ids, known.length),
        top=accuracy(top),
        random=tuple(accuracy(d) for d in draws),
        top_heads=tuple(top),
        random_heads=tuple(tuple(d) for d in draws),
    )
