"""Per layer x head statistics of attention weights, to find the heads worth a look.

For every head, averaged over the query positions (special tokens excluded as queries when there
is any other token, since [CLS]/[SEP] rows are mostly degenerate):

    entropy     -sum_j w_ij log w_ij (nats); log(Tk) for a uniform row, 0 for a one-hot row
    spread      entropy / log(number of keys the query may see); 0..1, comparable across lengths
    distance    sum_j w_ij |i - j|: how far, in tokens, a head looks on average
    special     sum_j w_ij over special keys ([CLS], [SEP], <s>, </s>)
    punct       sum_j w_ij over punctuation keys
    previous    w_i,i-1 (queries with a previous token); 1 for a pure previous-token head
    next        w_i,i+1 (queries with a next token); 1 for a pure next-token head
    self        w_ii

Plain numpy: the page and the CLI call it on a `ModelTrace`'s weights.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

import numpy as np

METRICS = ("entropy", "spread", "distance", "special", "punct", "previous", "next", "self")

# The pattern a head is labelled with when one metric dominates it (see `pattern`).
PATTERNS = ("previous", "next", "self", "special", "punct", "broad", "focused", "mixed")

# Word-piece markers that are not part of the word itself: WordPiece "##", SentencePiece "▁".
_MARKERS = ("##", "▁", "Ġ")


def is_punct(token: str) -> bool:
    """True when the token, without its sub-word marker, is only punctuation (or symbols)."""
    for marker in _MARKERS:
        token = token.removeprefix(marker)
    token = token.strip()
    return bool(token) and all(unicodedata.category(ch)[0] in "PS" for ch in token)


def punct_mask(tokens) -> np.ndarray:
    """(T,) bool: which tokens are punctuation."""
    return np.array([is_punct(token) for token in tokens], dtype=bool)


@dataclass(frozen=True, eq=False)
class HeadStats:
    """Every metric as an (L, H) array; see the module docstring for the definitions."""

    entropy: np.ndarray  # (L, H)
    spread: np.ndarray  # (L, H)
    distance: np.ndarray  # (L, H)
    special: np.ndarray  # (L, H)
    punct: np.ndarray  # (L, H)
    previous: np.ndarray  # (L, H)
    next: np.ndarray  # (L, H)
    self: np.ndarray  # (L, H)

    def __post_init__(self) -> None:
        shape = self.entropy.shape
        for name in METRICS:
            value = np.asarray(getattr(self, name), dtype=np.float64)
            if value.shape != shape or value.ndim != 2:
                raise ValueError(f"{name} has shape {value.shape}, expected {shape} (L, H)")
            value.flags.writeable = False
            object.__setattr__(self, name, value)

    @property
    def shape(self) -> tuple[int, int]:
        return self.entropy.shape

    def metric(self, name: str) -> np.ndarray:
        if name not in METRICS:
            raise KeyError(f"unknown metric {name!r}; one of {METRICS}")
        return getattr(self, name)


def _row_mean(values: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Mean over the chosen query rows of (H, T) -> (H,); 0 when no row is chosen."""
    if not rows.any():
        return np.zeros(values.shape[:-1])
    return values[..., rows].mean(axis=-1)


def head_stats(
    attentions,
    special: np.ndarray | None = None,
    punct: np.ndarray | None = None,
    allowed: np.ndarray | None = None,
) -> HeadStats:
    """Statistics of every head.

    Args:
        attentions: (L, H, T, T) weights, or one (H, T, T) array per layer (a trace's own
            arrays, never stacked into a copy); rows sum to 1 (or 0 where every key is masked).
        special: (T,) bool, special tokens; they are not counted as queries (unless all are).
        punct: (T,) bool, punctuation tokens.
        allowed: (T, T) bool, which keys each query may see (all when None); sets `spread`.
    """
    attentions = [np.asarray(layer) for layer in attentions]  # L x (H, T, T)
    shapes = {layer.shape for layer in attentions}
    if len(shapes) != 1 or len(shape := shapes.pop()) != 3 or shape[-1] != shape[-2]:
        raise ValueError(f"expected (L, H, T, T), got layers of shapes {shapes or 'none'}")
    t = shape[-1]
    special = np.zeros(t, bool) if special is None else np.asarray(special, dtype=bool)
    punct = np.zeros(t, bool) if punct is None else np.asarray(punct, dtype=bool)
    allowed = np.ones((t, t), bool) if allowed is None else np.asarray(allowed, dtype=bool)
    if special.shape != (t,) or punct.shape != (t,) or allowed.shape != (t, t):
        raise ValueError("special, punct must be (T,) and allowed (T, T)")

    queries = ~special if (~special).any() else np.ones(t, bool)  # (T,)
    live = np.logical_or.reduce(
        [(layer.sum(axis=-1) > 0).any(axis=0) for layer in attentions]
    )  # (T,) rows with a visible key
    rows = queries & live
    prev_rows = rows[1:]  # queries 1..T-1 have a previous token
    next_rows = rows[:-1]  # queries 0..T-2 have a next token
    visible = allowed.sum(axis=-1)  # (T,)
    # A query that sees one key has nothing to spread over: its spread is 0.
    log_visible = np.where(visible > 1, np.log(np.maximum(visible, 2)), np.inf)  # (T,)
    positions = np.arange(t)
    gap = np.abs(positions[:, None] - positions[None, :]).astype(np.float64)  # (T, T)

    out: dict[str, list[np.ndarray]] = {name: [] for name in METRICS}
    # One layer at a time: 12 layers x 12 heads x 512^2 in float64 would be 300 MB at once.
    for layer in attentions:
        weights = layer.astype(np.float64)  # (H, T, T)
        # 0 log 0 = 0: where a weight is 0 its term is dropped rather than NaN.
        logs = np.log(np.where(weights > 0, weights, 1.0))  # (H, T, T)
        entropy_rows = -(weights * logs).sum(axis=-1)  # (H, T)
        out["entropy"].append(_row_mean(entropy_rows, rows))
        out["spread"].append(_row_mean(entropy_rows / log_visible, rows))
        out["distance"].append(_row_mean((weights * gap).sum(axis=-1), rows))
        out["special"].append(_row_mean(weights[..., special].sum(axis=-1), rows))
        out["punct"].append(_row_mean(weights[..., punct].sum(axis=-1), rows))
        # diagonals: w[i, i], w[i, i-1] (i >= 1), w[i, i+1] (i <= T-2), each (H, T or T-1)
        out["self"].append(_row_mean(np.diagonal(weights, axis1=-2, axis2=-1), rows))
        below = np.diagonal(weights, offset=-1, axis1=-2, axis2=-1)
        out["previous"].append(_row_mean(below, prev_rows))
        above = np.diagonal(weights, offset=1, axis1=-2, axis2=-1)
        out["next"].append(_row_mean(above, next_rows))
    return HeadStats(**{name: np.stack(values) for name, values in out.items()})


def trace_stats(trace) -> HeadStats:
    """`head_stats` of a `ModelTrace` (special tokens and punctuation read from the trace)."""
    return head_stats(
        [layer.weights for layer in trace.layers],
        special=trace.special,
        punct=punct_mask(trace.tokens),
        allowed=trace.layers[0].allowed if trace.layers else None,
    )


def pattern(stats: HeadStats, *, threshold: float = 0.5) -> np.ndarray:
    """(L, H) array of pattern names: the one a head mostly follows, else "mixed".

    A head is "previous"/"next"/"self"/"special"/"punct" when that share of its attention is at
    least `threshold` (the largest wins), "broad" when its spread is >= 0.8 (close to uniform),
    "focused" when spread <= 0.2, otherwise "mixed".
    """
    shares = np.stack([stats.metric(name) for name in PATTERNS[:5]])  # (5, L, H)
    best = shares.argmax(axis=0)  # (L, H)
    names = np.array(PATTERNS[:5], dtype=object)[best]
    out = np.full(stats.shape, "mixed", dtype=object)
    out[stats.spread <= 0.2] = "focused"
    out[stats.spread >= 0.8] = "broad"
    strong = shares.max(axis=0) >= threshold
    out[strong] = names[strong]
    return out


def rank(stats: HeadStats, metric: str, *, top: int = 10, largest: bool = True) -> list[tuple]:
    """The `top` heads by one metric: [(layer, head, value), ...], best first, ties by position."""
    values = stats.metric(metric)
    flat = values.ravel()
    # A stable sort on (-value) keeps lower layer/head first among equal values.
    order = np.argsort(-flat if largest else flat, kind="stable")[: max(top, 0)]
    h = values.shape[1]
    return [(int(i // h), int(i % h), float(flat[i])) for i in order]


def interesting(stats: HeadStats, *, top: int = 10) -> list[tuple]:
    """Heads that do something recognisable, strongest first: [(layer, head, pattern, value)].

    Heads that mostly park their attention on special tokens (a "no-op" in many BERT heads) or
    spread it evenly are the least interesting; a head is scored by the largest of its previous,
    next and self shares and of its focus (1 - spread), each weighted by how little goes to
    special tokens.
    """
    labels = pattern(stats)
    focus = 1.0 - stats.spread
    candidates = np.stack([stats.previous, stats.next, stats.self, focus])  # (4, L, H)
    score = candidates.max(axis=0) * (1.0 - stats.special)  # (L, H)
    flat = score.ravel()
    order = np.argsort(-flat, kind="stable")[: max(top, 0)]
    h = score.shape[1]
    return [(int(i // h), int(i % h), str(labels.ravel()[i]), float(flat[i])) for i in order]


def find_span(tokens, text: str) -> tuple[int, int] | None:
    """(start, stop) of the first run of tokens that spells `text` (sub-word markers dropped,
    case ignored), or None. "小红" is found in ["▁小", "明", "把", ..., "小", "红"] at (6, 8)."""
    pieces = [_bare(token) for token in tokens]
    want = _bare(text)
    for start in range(len(pieces)):
        spelled = ""
        for stop in range(start, len(pieces)):
            spelled += pieces[stop]
            if spelled == want and pieces[start]:
                return start, stop + 1
            if not want.startswith(spelled):
                break
    return None


def _bare(token: str) -> str:
    for marker in _MARKERS:
        token = token.removeprefix(marker)
    return token.strip().lower()


def span_weights(
    attentions: np.ndarray, query: tuple[int, int], key: tuple[int, int]
) -> np.ndarray:
    """(L, H): how much the query span attends to the key span in every head.

    The weight the span's query tokens give, summed over the key span's tokens and averaged over
    the query span's tokens: the same pooling as the page's word view. attentions (L, H, T, T).
    """
    block = np.asarray(attentions)[:, :, query[0] : query[1], key[0] : key[1]]  # (L, H, q, k)
    return block.sum(axis=-1).mean(axis=-1)


def rank_heads(values: np.ndarray) -> list[tuple[int, int, float]]:
    """Every head of an (L, H) array, largest first: [(layer, head, value)] (ties by position)."""
    flat = np.asarray(values).ravel()
    order = np.argsort(-flat, kind="stable")
    h = values.shape[1]
    return [(int(i // h), int(i % h), float(flat[i])) for i in order]
