"""The only attention math in attnviz. Two paths, one module, held equal by tests (with torch's
fused kernel as the oracle):

- the teaching path, `compute` / `attend` / `breakdown` / `explain`, writes every step out:

    scores  = score(q, k)                      (..., Tq, Tk)
    scaled  = scores * scale / temperature     scale = 1/sqrt(Dk) for scaled_dot, else 1
    masked  = scaled where allowed, else -inf
    weights = softmax(masked) over keys        exp(masked - max) / sum(exp(masked - max))
    context = weights @ v                      (..., Tq, Dv)

  Inputs may be numpy arrays or torch tensors on any device; the math runs in torch on the
  inputs' device and dtype (numpy float input runs in float64, so hand-checked examples are
  exact). `attend` returns the same as a numpy `AttentionStep`.
- the model path, `heads`, computes weights = softmax((q·scale) @ kᵀ + mask) with
  `torch.softmax` and context = weights @ v: the passes a reference implementation makes, so
  a model's forward with its full trace runs at reference speed. Every head's q, k, v, weights
  and context are still returned (`Heads`, kept by `layer_trace`); `breakdown` recomputes any
  one query's scores, scaled, masked and softmax parts on the teaching path.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import torch

from attnviz.errors import InputError
from attnviz.trace import STEP_NAMES as STEP_FIELDS
from attnviz.trace import AttentionStep, LayerTrace

# Score functions. Each maps q (..., Tq, Dq) and k (..., Tk, Dk) to scores (..., Tq, Tk).
#   dot            q . k
#   scaled_dot     q . k, then scaled by 1/sqrt(Dk)
#   cosine         q . k / (|q| |k|)          (0 where a vector is all zeros)
#   general        q^T W k                    params: W (Dq, Dk)       (Luong "general")
#   additive       w^T tanh(W1 q + W2 k)      params: W1 (Da, Dq), W2 (Da, Dk), w (Da,) (Bahdanau)
#   neg_euclidean  -|q - k|                   closer keys score higher
#   linear         w . k + b, the same for every query: softmax(W^T X) of article 003;
#                  params: w (Dk,), optional b () (a bias; it shifts every score alike)
SCORES = ("dot", "scaled_dot", "cosine", "general", "additive", "neg_euclidean", "linear")
PARAMS = {"general": ("W",), "additive": ("W1", "W2", "w"), "linear": ("w",)}


class Steps(NamedTuple):
    """The intermediates as torch tensors on the inputs' device (see module docstring)."""

    q: torch.Tensor
    k: torch.Tensor
    v: torch.Tensor
    scores: torch.Tensor
    scaled: torch.Tensor
    masked: torch.Tensor
    weights: torch.Tensor
    context: torch.Tensor
    scale: float


def _tensor(x, like: torch.Tensor | None = None) -> torch.Tensor:
    if isinstance(x, torch.Tensor):
        return x if like is None else x.to(device=like.device, dtype=like.dtype)
    array = np.asarray(x)
    if not np.issubdtype(array.dtype, np.number) or np.issubdtype(array.dtype, np.complexfloating):
        raise InputError("error.not_numeric")
    # torch cannot share a read-only buffer (traces are read-only), so those are copied.
    t = torch.as_tensor(
        np.array(array, dtype=np.float64, copy=True if not array.flags.writeable else None)
    )
    return t if like is None else t.to(device=like.device, dtype=like.dtype)


def causal_mask(tq: int, tk: int) -> np.ndarray:
    """(Tq, Tk) bool: query i may look at keys 0..i (aligned to the end when Tk > Tq)."""
    return np.tril(np.ones((tq, tk), dtype=bool), k=tk - tq)


def score_scale(score: str, dk: int) -> float:
    return 1.0 / math.sqrt(dk) if score == "scaled_dot" else 1.0


def unit(x: torch.Tensor) -> torch.Tensor:
    """Rows of x scaled to length 1; a zero row (no direction) stays 0, so its cosine is 0.

    Each row is first divided by its largest |entry|: the norm of [1e200, 1e200] would overflow
    to inf and turn the direction into 0.
    """
    tiny = torch.finfo(x.dtype).tiny
    peak = x.abs().amax(dim=-1, keepdim=True)  # (..., T, 1)
    x = torch.where(peak > 0, x / peak.clamp_min(tiny), 0.0)  # entries in [-1, 1]
    norm = x.norm(dim=-1, keepdim=True)  # (..., T, 1)
    return torch.where(norm > 0, x / norm.clamp_min(tiny), 0.0)


def score_fn(score: str, q: torch.Tensor, k: torch.Tensor, params: dict) -> torch.Tensor:
    """Raw scores (..., Tq, Tk) of one score function, before scaling and masking."""
    if score in ("dot", "scaled_dot"):
        return q @ k.transpose(-2, -1)
    if score == "cosine":
        return unit(q) @ unit(k).transpose(-2, -1)
    if score == "general":
        return q @ params["W"] @ k.transpose(-2, -1)
    if score == "additive":
        wq = q @ params["W1"].T  # (..., Tq, Da)
        wk = k @ params["W2"].T  # (..., Tk, Da)
        return torch.tanh(wq.unsqueeze(-2) + wk.unsqueeze(-3)) @ params["w"]  # (..., Tq, Tk)
    if score == "neg_euclidean":
        diff = q.unsqueeze(-2) - k.unsqueeze(-3)  # (..., Tq, Tk, D)
        return -diff.norm(dim=-1)
    if score == "linear":
        gate = k @ params["w"] + params.get("b", 0.0)  # (..., Tk)
        return gate.unsqueeze(-2).expand(*k.shape[:-2], q.shape[-2], k.shape[-2])
    raise InputError("error.unknown_score", score=score)


def softmax_parts(masked: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The pieces of a numerically stable softmax over the last axis.

    Returns (row_max, exp, total) with exp = exp(masked - row_max) and total = sum(exp).
    Subtracting the row maximum keeps exp <= 1, so scores as large as 1e30 stay finite.
    A row whose keys are all masked has max -inf; it gets max 0, exp 0 and total 0.
    """
    row_max = masked.amax(dim=-1, keepdim=True)  # (..., Tq, 1)
    row_max = torch.where(torch.isfinite(row_max), row_max, torch.zeros_like(row_max))
    # exp_ in place on the fresh difference: one (..., Tq, Tk) buffer fewer (autograd-safe)
    exp = (masked - row_max).exp_()  # (..., Tq, Tk), exp(-inf) = 0
    total = exp.sum(dim=-1, keepdim=True)  # (..., Tq, 1)
    return row_max, exp, total


def softmax(masked: torch.Tensor) -> torch.Tensor:
    """softmax over keys; a fully masked row gets weights 0 rather than NaN."""
    _, exp, total = softmax_parts(masked)
    # A row with total 0 has exp 0 everywhere, so dividing by `tiny` leaves it 0: no extra
    # (..., Tq, Tk) pass for a where(). `exp` is this call's own buffer, so it is divided in place,
    # except when training: autograd needs the output of exp intact for the backward pass.
    total = total.clamp_min(torch.finfo(exp.dtype).tiny)
    return exp / total if exp.requires_grad else exp.div_(total)


def example_params(score: str, dq: int, dk: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Small, fixed parameters for a score function, for the playground's defaults."""
    rng = np.random.default_rng(seed)
    if score == "general":
        return {"W": np.eye(dq, dk)}
    if score == "additive":
        da = dk  # the hidden width of the additive scorer; any size works
        return {
            "W1": np.round(rng.normal(size=(da, dq)), 1),
            "W2": np.round(rng.normal(size=(da, dk)), 1),
            "w": np.round(rng.normal(size=da), 1),
        }
    if score == "linear":
        return {"w": np.round(rng.normal(size=dk), 1)}
    return {}


def _check(q, k, v, score: str, temperature: float, params: dict) -> None:
    if score not in SCORES:
        raise InputError("error.unknown_score", score=score)
    for name, x in (("q", q), ("k", k), ("v", v)):
        if x.ndim < 2:
            raise InputError("error.not_matrix", name=name)
        if x.shape[-2] == 0:
            raise InputError("error.empty", name=name)
        if not bool(torch.isfinite(x).all()):
            raise InputError("error.not_finite", name=name)
    if k.shape[-1] == 0:
        raise InputError("error.zero_width", name="k")
    if k.shape[-2] != v.shape[-2]:
        raise InputError("error.kv_rows", k=k.shape[-2], v=v.shape[-2])
    if score in ("dot", "scaled_dot", "cosine", "neg_euclidean") and q.shape[-1] != k.shape[-1]:
        raise InputError("error.qk_width", q=q.shape[-1], k=k.shape[-1])
    if not (math.isfinite(temperature) and temperature > 0):
        raise InputError("error.temperature")
    dq, dk = q.shape[-1], k.shape[-1]
    da = params["W1"].shape[0] if score == "additive" else None
    shapes = {
        "general": {"W": (dq, dk)},
        "additive": {"W1": (da, dq), "W2": (da, dk), "w": (da,)},
        "linear": {"w": (dk,), "b": ()},
    }.get(score, {})
    for name, shape in shapes.items():
        if name not in params:  # an optional one (b)
            continue
        if tuple(params[name].shape) != shape:
            raise InputError(
                "error.param_shape", name=name, got=tuple(params[name].shape), want=shape
            )
        if not bool(torch.isfinite(params[name]).all()):
            raise InputError("error.not_finite", name=name)


def compute(
    q,
    k,
    v,
    *,
    score: str = "scaled_dot",
    temperature: float = 1.0,
    allowed=None,
    causal: bool = False,
    params: dict | None = None,
) -> Steps:
    """Attention written out step by step; every intermediate is returned.

    Args:
        q: (..., Tq, Dq) queries. For score "linear" it only gives Tq (the gate ignores it).
        k: (..., Tk, Dk) keys.
        v: (..., Tk, Dv) values.
        score: one of SCORES.
        temperature: > 0; divides the scaled scores (small -> sharper, large -> flatter).
        allowed: bool, broadcastable to (..., Tq, Tk); False hides a key from a query.
        causal: also hide keys after each query (see causal_mask).
        params: the learned tensors a score function needs (see PARAMS).
    """
    q = _tensor(q)
    k, v = _tensor(k, like=q), _tensor(v, like=q)
    missing = [name for name in PARAMS.get(score, ()) if name not in (params or {})]
    if missing:
        raise InputError("error.param_missing", name=", ".join(missing))
    params = {name: _tensor(value, like=q) for name, value in (params or {}).items()}
    _check(q, k, v, score, temperature, params)

    # 1. scores
    scores = score_fn(score, q, k, params)  # (..., Tq, Tk)
    # 2. scaled: 1/sqrt(Dk) keeps the variance of q.k near 1 so the softmax does not saturate
    scale = score_scale(score, k.shape[-1])
    scaled = scores * (scale / temperature)
    # min and max carry any NaN or inf: two numbers to check instead of a (..., Tq, Tk) mask,
    # which at 512 tokens costs more than the attention itself
    if not bool(torch.isfinite(torch.stack(torch.aminmax(scaled))).all()):
        raise InputError("error.overflow")
    # 3. masked
    tq, tk = scores.shape[-2:]
    keep = torch.ones((tq, tk), dtype=torch.bool, device=q.device)
    if allowed is not None:
        allowed = np.asarray(allowed, dtype=bool)
        try:
            fits = np.broadcast_shapes(allowed.shape, tuple(scores.shape)) == tuple(scores.shape)
        except ValueError:
            fits = False
        if not fits:
            raise InputError("error.mask_shape", got=allowed.shape, want=(tq, tk))
        keep = keep & torch.tensor(allowed, device=q.device)
    if causal:
        keep = keep & torch.as_tensor(causal_mask(tq, tk), device=q.device)
    # every key allowed (a model's unpadded input): masked equals scaled, no copy needed
    masked = scaled if bool(keep.all()) else scaled.masked_fill(~keep, float("-inf"))
    # 4. weights
    weights = softmax(masked)  # (..., Tq, Tk)
    # 5. context
    context = weights @ v  # (..., Tq, Dv)
    return Steps(q, k, v, scores, scaled, masked, weights, context, scale)


class Heads(NamedTuple):
    """What the model path returns: every head's inputs, weights and output (torch, on device)."""

    q: torch.Tensor  # (..., Tq, Dh)
    k: torch.Tensor  # (..., Tk, Dh)
    v: torch.Tensor  # (..., Tk, Dv)
    weights: torch.Tensor  # (..., Tq, Tk)
    context: torch.Tensor  # (..., Tq, Dv)
    scale: float


def heads(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    *,
    allowed: np.ndarray | None = None,
    causal: bool = False,
) -> Heads:
    """Scaled dot-product attention of a model's heads, at reference speed.

        weights = softmax((q * scale) @ kᵀ + mask)    mask 0 where allowed, -inf where hidden
        context = weights @ v                          scale = 1/sqrt(Dh)

    The same numbers as `compute(q, k, v, score="scaled_dot", ...)` (a test holds them equal),
    in the fewest passes over the (..., Tq, Tk) scores: q is scaled before the product (Tq x Dh
    values, not Tq x Tk), the mask is one in-place add, and the softmax is torch's. Finiteness is
    checked once, on the small context: a NaN or infinity anywhere in q, k, v or the scores
    reaches it. A query whose keys are all hidden gets weights 0 (torch's softmax gives NaN).

    Args:
        q, k, v: (..., T, Dh) tensors of a model's heads, on its device.
        allowed: bool, broadcastable to (Tq, Tk); False hides a key from a query.
        causal: also hide keys after each query (see causal_mask).
    """
    tq, tk = q.shape[-2], k.shape[-2]
    scale = score_scale("scaled_dot", k.shape[-1])
    scaled = (q * scale) @ k.transpose(-2, -1)  # (..., Tq, Tk)
    # The mask is settled in numpy, on (Tq, Tk) booleans: a model's unpadded input allows every
    # key, and then no torch pass over the mask runs at all.
    keep = None if allowed is None else np.broadcast_to(np.asarray(allowed, bool), (tq, tk))
    if causal:
        keep = causal_mask(tq, tk) if keep is None else keep & causal_mask(tq, tk)
    if keep is not None and not keep.all():
        bias = torch.zeros((tq, tk), dtype=scaled.dtype, device=q.device)
        bias.masked_fill_(torch.as_tensor(~keep, device=q.device), float("-inf"))
        scaled += bias  # masked, in place
    weights = torch.softmax(scaled, dim=-1)  # (..., Tq, Tk)
    if keep is not None and not keep.any(axis=-1).all():  # rows with every key hidden
        weights.masked_fill_(
            torch.as_tensor(~keep.any(axis=-1, keepdims=True), device=q.device), 0.0
        )
    context = weights @ v  # (..., Tq, Dv)
    if not bool(torch.isfinite(context).all()):
        raise InputError("error.overflow")
    return Heads(q, k, v, weights, context, scale)


def to_numpy(x: torch.Tensor) -> np.ndarray:
    return x.detach().cpu().numpy()


def attend(q, k, v, **options) -> AttentionStep:
    """`compute`, returned as a numpy trace. Options are those of `compute`."""
    steps = compute(q, k, v, **options)
    return AttentionStep(
        **{
            name: to_numpy(getattr(steps, name))
            for name in AttentionStep.__dataclass_fields__
            if name not in ("score", "scale", "temperature")
        },
        score=options.get("score", "scaled_dot"),
        scale=steps.scale,
        temperature=float(options.get("temperature", 1.0)),
    )


def layer_trace(steps: Heads | Steps, allowed: np.ndarray, score: str = "scaled_dot") -> LayerTrace:
    """Keep what a model layer's trace needs from one `heads` (or `compute`) over (H, T, Dh)."""
    return LayerTrace(
        q=to_numpy(steps.q),
        k=to_numpy(steps.k),
        v=to_numpy(steps.v),
        weights=to_numpy(steps.weights),
        context=to_numpy(steps.context),
        allowed=np.asarray(allowed, dtype=bool),
        score=score,
        scale=steps.scale,
    )


def breakdown(layer: LayerTrace, head: int, query: int) -> AttentionStep:
    """The full step-by-step trace of one query of one head, recomputed in float64 from q, k, v."""
    return attend(
        layer.q[head, query : query + 1].astype(np.float64),  # (1, Dh)
        layer.k[head].astype(np.float64),  # (Tk, Dh)
        layer.v[head].astype(np.float64),  # (Tk, Dh)
        score=layer.score,
        allowed=layer.allowed[query : query + 1],  # (1, Tk)
    )


class Explained(NamedTuple):
    """The softmax and weighted sum of one query, spelled out for the breakdown tables."""

    row_max: float  # max over allowed keys of masked
    exp: np.ndarray  # (Tk,) exp(masked - row_max), 0 for hidden keys
    total: float  # sum of exp
    contributions: np.ndarray  # (Tk, Dv) weights[j] * v[j]; their sum is context


def explain(step: AttentionStep, query: int = 0) -> Explained:
    """Spell out softmax and the weighted sum for one query of a step without lead dimensions."""
    if step.weights.ndim != 2:
        raise ValueError(f"explain takes a step of shape (Tq, Tk), got {step.weights.shape}")
    row_max, exp, total = softmax_parts(torch.from_numpy(np.array(step.masked[query])))
    contributions = step.weights[query][:, None] * step.v  # (Tk, Dv)
    return Explained(float(row_max), to_numpy(exp), float(total), contributions)


def sample_step(steps: Steps, index: int, score: str) -> AttentionStep:
    """One sample of a batched `compute` (model path, float32) as a numpy `AttentionStep`."""
    return AttentionStep(
        **{name: to_numpy(getattr(steps, name)[index]) for name in STEP_FIELDS},
        score=score,
        scale=steps.scale,
        temperature=1.0,
    )
