"""Typed, frozen traces of attention: plain numpy, so they can be cached, saved, tested and drawn
without torch.

Dimension legend (written on every reshape in the code):
    B  batch                 L  layers              H  heads
    Tq query positions       Tk key positions       T  positions when Tq == Tk
    D  model width           Dh head width          Dq/Dk/Dv query/key/value width
    P  patches (image tokens, without CLS)

Names, one per intermediate, everywhere (code, traces, figures, catalog keys):
    q, k, v -> scores -> scaled -> masked -> weights -> context
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

STEP_NAMES = ("q", "k", "v", "scores", "scaled", "masked", "weights", "context")


def frozen(array: np.ndarray) -> np.ndarray:
    """A read-only view: traces are shared between users through the cache, so nobody may write."""
    array = np.asarray(array)
    view = array.view()
    view.flags.writeable = False
    return view


def _freeze(trace: object, names: tuple[str, ...]) -> None:
    """Make a frozen dataclass's array fields read-only views (None stays None)."""
    for name in names:
        if getattr(trace, name) is not None:
            object.__setattr__(trace, name, frozen(getattr(trace, name)))


class Answered:
    """A trace with class probabilities; its prediction is the most likely class."""

    probabilities: np.ndarray  # (C,)

    @property
    def prediction(self) -> int:
        return int(np.argmax(self.probabilities))


@dataclass(frozen=True, eq=False)
class AttentionStep:
    """Every intermediate of one attention call, shapes checked on creation.

    Leading batch/head dimensions (written ``...``) are allowed and must agree.
    """

    q: np.ndarray  # (..., Tq, Dq)
    k: np.ndarray  # (..., Tk, Dk)
    v: np.ndarray  # (..., Tk, Dv)
    scores: np.ndarray  # (..., Tq, Tk) raw score function output
    scaled: np.ndarray  # (..., Tq, Tk) scores * scale / temperature
    masked: np.ndarray  # (..., Tq, Tk) scaled, -inf where a key is not allowed
    weights: np.ndarray  # (..., Tq, Tk) softmax(masked); each row sums to 1 (or 0 if all masked)
    context: np.ndarray  # (..., Tq, Dv) weights @ v
    score: str  # name of the score function, see attention.SCORES
    scale: float  # 1/sqrt(Dk) for scaled_dot, else 1
    temperature: float

    def __post_init__(self) -> None:
        _freeze(self, STEP_NAMES)
        *lead, tq, tk = self.scores.shape
        expected = {
            "k": (*lead, tk, self.k.shape[-1]),
            "v": (*lead, tk, self.v.shape[-1]),
            "scaled": (*lead, tq, tk),
            "masked": (*lead, tq, tk),
            "weights": (*lead, tq, tk),
            "context": (*lead, tq, self.v.shape[-1]),
        }
        for name, shape in expected.items():
            if getattr(self, name).shape != shape:
                raise ValueError(f"{name} has shape {getattr(self, name).shape}, expected {shape}")
        if self.q.shape[-2] != tq:
            raise ValueError(f"q has {self.q.shape[-2]} rows, scores have {tq}")


@dataclass(frozen=True, eq=False)
class LayerTrace:
    """One self-attention layer of a model: per-head q, k, v, weights and context.

    Only what cannot be recomputed cheaply is kept; `attention.breakdown` rebuilds the full
    `AttentionStep` of any one query from q, k, v (the scores of 512 tokens x 12 heads x 12 layers
    would not fit a cache).
    """

    q: np.ndarray  # (H, Tq, Dh)
    k: np.ndarray  # (H, Tk, Dh)
    v: np.ndarray  # (H, Tk, Dh)
    weights: np.ndarray  # (H, Tq, Tk)
    context: np.ndarray  # (H, Tq, Dh)
    allowed: np.ndarray  # (Tq, Tk) bool: False where the mask hides a key
    score: str = "scaled_dot"
    scale: float = 1.0

    def __post_init__(self) -> None:
        _freeze(self, ("q", "k", "v", "weights", "context", "allowed"))
        h, tq, dh = self.q.shape
        tk = self.k.shape[1]
        expected = {
            "k": (h, tk, dh),
            "v": (h, tk, self.v.shape[2]),
            "weights": (h, tq, tk),
            "context": (h, tq, self.v.shape[2]),
            "allowed": (tq, tk),
        }
        for name, shape in expected.items():
            if getattr(self, name).shape != shape:
                raise ValueError(f"{name} has shape {getattr(self, name).shape}, expected {shape}")
        if self.allowed.dtype != np.bool_:
            raise ValueError("allowed must be boolean")


@dataclass(frozen=True, eq=False)
class ModelTrace:
    """A whole forward pass of one input through one model.

    `tokens` are what the user reads on the axes (word pieces, or patch labels for images).
    What a family adds (sentence embedding, saliency map ...) are typed fields of a subclass.
    """

    model: str
    tokens: tuple[str, ...]  # (T,)
    layers: tuple[LayerTrace, ...]  # (L,)
    hidden: np.ndarray  # (L+1, T, D) input embeddings then each layer's output
    special: np.ndarray  # (T,) bool: [CLS]/[SEP]/<s>/</s>/CLS-patch

    def __post_init__(self) -> None:
        object.__setattr__(self, "hidden", frozen(self.hidden))
        object.__setattr__(self, "special", frozen(np.asarray(self.special, dtype=bool)))
        t = len(self.tokens)
        if self.hidden.shape[:2] != (len(self.layers) + 1, t):
            raise ValueError(f"hidden has shape {self.hidden.shape}, expected (L+1, {t}, D)")
        if self.special.shape != (t,):
            raise ValueError(f"special has shape {self.special.shape}, expected ({t},)")
        for layer in self.layers:
            if layer.weights.shape[1:] != (t, t):
                raise ValueError(f"layer weights {layer.weights.shape} do not match {t} tokens")

    @property
    def attentions(self) -> np.ndarray:
        """All attention weights, (L, H, T, T)."""
        return np.stack([layer.weights for layer in self.layers])


@dataclass(frozen=True, eq=False, kw_only=True)
class TextTrace(ModelTrace):
    """A text encoder's trace, with the input as the tokenizer read it and its embedding."""

    ids: np.ndarray  # (T,) token ids
    token_type_ids: np.ndarray  # (T,)
    segment: np.ndarray  # (T,) 0 for sentence A, 1 for sentence B
    display: tuple[str, ...]  # (T,) the pieces as read, without "##" / "▁"
    word_index: np.ndarray  # (T,) the word of each token, into `words`
    words: tuple[str, ...]  # (W,)
    embedding: np.ndarray  # (D,) mean-pooled and L2-normalised
    dropped_a: int  # tokens cut from the end of sentence A (the input is at most 512 tokens)
    dropped_b: int  # ... and of sentence B
    removed: int  # control characters removed from the input

    def __post_init__(self) -> None:
        super().__post_init__()
        _freeze(self, ("ids", "token_type_ids", "segment", "word_index", "embedding"))

    @property
    def dropped(self) -> int:
        return self.dropped_a + self.dropped_b

    @property
    def truncated(self) -> bool:
        return self.dropped > 0


@dataclass(frozen=True, eq=False, kw_only=True)
class ImageTrace(ModelTrace):
    """An image model's trace; `picture`, `box` and `content` when it came from a photo."""

    pixel_values: np.ndarray  # (3, 224, 224) the normalised input
    saliency: np.ndarray  # (224, 224) the decoder's map, in [0, 1]
    token_norms: np.ndarray  # (L+1, T) norm of every token's hidden state
    picture: np.ndarray | None = None  # (224, 224, 3) uint8: what the model sees
    box: np.ndarray | None = None  # (4,) [left, top, width, height] of the photo on it
    content: np.ndarray | None = None  # (P,) share of each patch covered by the photo

    def __post_init__(self) -> None:
        super().__post_init__()
        names = ("pixel_values", "saliency", "token_norms", "picture", "box", "content")
        _freeze(self, names)


@dataclass(frozen=True, eq=False)
class ClassifierTrace(Answered):
    """One text through an attention classifier (attention pooling or LSTM + attention).

    `step` is the one attention call: a query-free linear gate over the tokens' vectors, so
    q is (1, D) zeros, k = v are the tokens' vectors (embeddings, or LSTM states) and the
    weights (1, T) sum to 1 over the tokens.
    """

    model: str
    tokens: tuple[str, ...]  # (T,)
    step: AttentionStep  # k, v (T, D); weights (1, T); context (1, D)
    logits: np.ndarray  # (C,) fc(context)
    bias: np.ndarray  # (C,) fc's bias: logits = W·context + bias
    probabilities: np.ndarray  # (C,) softmax(logits)
    labels: tuple[str, ...]  # (C,) class names (catalog keys under sentiment.label.)
    dropped: int  # tokens left out past the model's longest input

    def __post_init__(self) -> None:
        _freeze(self, ("logits", "bias", "probabilities"))
        if self.step.weights.shape != (1, len(self.tokens)):
            raise ValueError(f"weights {self.step.weights.shape} do not match the tokens")
        if not self.logits.shape == self.bias.shape == self.probabilities.shape:
            raise ValueError("logits, bias and probabilities must have one entry per class")
        if self.logits.shape != (len(self.labels),):
            raise ValueError(f"logits {self.logits.shape} do not match {len(self.labels)} labels")


@dataclass(frozen=True, eq=False)
class DigitTrace(Answered):
    """One 28 × 28 digit through the CNN with spatial self-attention (article 004).

    The attention runs over the P = side × side positions of a feature map; `step.weights[i]`
    is where position i (row-major) looks.
    """

    pixel_values: np.ndarray  # (28, 28) in [0, 1], ink bright, as the model reads it
    side: int  # the feature map is side × side positions
    step: AttentionStep  # q, k (P, Dk); v (P, C); weights (P, P); context (P, C)
    gate: float  # the learned residual gate: output = gate * context + feature map
    logits: np.ndarray  # (10,)
    probabilities: np.ndarray  # (10,)

    def __post_init__(self) -> None:
        _freeze(self, ("pixel_values", "logits", "probabilities"))
        if self.step.weights.shape != (self.side**2, self.side**2):
            raise ValueError(f"weights {self.step.weights.shape} do not match side {self.side}")


@dataclass(frozen=True, eq=False)
class DecoderTrace:
    """One forward of one sequence through a decoder (zoo/llama.py): Tq new positions starting at
    `start`, attending to Tk = start + Tq keys.

    Keys and values of earlier positions are in earlier calls' traces (they never change). Every
    array owns its memory: a view would keep the whole batch's or the whole cache's storage alive
    for as long as the trace lives (a generation keeps one trace per step).
    """

    start: int
    ids: np.ndarray  # (Tq,)
    q_raw: np.ndarray  # (L, H, Tq, Dh) before RoPE
    q: np.ndarray  # (L, H, Tq, Dh) after RoPE
    k_raw: np.ndarray  # (L, Hkv, Tq, Dh) before RoPE
    k: np.ndarray  # (L, Hkv, Tq, Dh) after RoPE
    v: np.ndarray  # (L, Hkv, Tq, Dh)
    weights: np.ndarray  # (L, H, Tq, Tk)
    logits: np.ndarray  # (V,) of the last position: the next token's scores

    def __post_init__(self) -> None:
        _freeze(self, ("ids", "q_raw", "q", "k_raw", "k", "v", "weights", "logits"))
        n_layers, n_heads, tq, _ = self.q.shape
        if self.weights.shape != (n_layers, n_heads, tq, self.start + tq):
            raise ValueError(
                f"weights {self.weights.shape} do not fit {tq} queries at {self.start}"
            )

    @property
    def group(self) -> int:
        """Query heads per key/value head: query head h reads key/value head h // group."""
        return self.q.shape[1] // self.k.shape[1]

    @property
    def nbytes(self) -> int:
        return sum(getattr(self, n).nbytes for n in ("q_raw", "q", "k_raw", "k", "v", "weights"))
