"""Article 004 §3.2 and §4: a decoder state attends over a CNN feature map (cross-attention)."""

from __future__ import annotations

import math

import numpy as np
import torch

from attnviz.attention import attend
from attnviz.examples.base import (
    Erratum,
    Table,
    Walk,
    WorkedExample,
    dims,
    fails,
    labels,
    listing,
    notation,
    softmax_rows,
)
from attnviz.examples.code import c004

SYMBOLS = ("QKᵀ", "QKᵀ/√dₖ", "softmax(QKᵀ/√dₖ)", "Attention(Q, K, V)")
NAN = math.nan
SIDE = c004.SIDE


def _ex004() -> WorkedExample:
    images, features, state, attention = c004.demo()
    with torch.no_grad():
        q = attention.to_q(state).numpy()  # (B, dk): the article's Q, without unsqueeze
        k = attention.to_k(features).numpy()  # (B, P, dk)
        v = attention.to_v(features).numpy()  # (B, P, dk)
    batch, positions = k.shape[0], k.shape[1]
    cells = tuple(f"({r},{c})" for r in range(SIDE) for c in range(SIDE))
    walks = tuple(
        Walk(
            f"examples.step.picture{b + 1}",
            attend(q[b : b + 1], k[b], v[b], score="scaled_dot"),
            (f"Q{b + 1}",),
            cells,
            dims(k.shape[-1]),
            SYMBOLS,
        )
        for b in range(batch)
    )
    # As written: (B, dk) @ (B, dk, P) broadcasts to (B, B, P), divided by sqrt(hidden_size).
    broadcast = np.matmul(q, k.transpose(0, 2, 1))  # (B, B, P): [b, i] = query i, keys of b
    written = softmax_rows(broadcast / math.sqrt(c004.STATE))  # (B, B, P), over the keys
    fixed_weights = np.stack([w.step.weights[0] for w in walks])  # (B, P)
    pairs = tuple(f"K{b + 1}·Q{i + 1}" for b in range(batch) for i in range(batch))
    shapes = (
        (batch, q.shape[-1], NAN),  # Q = hidden W1: (B, dk)
        k.shape,  # (B, P, dk)
        broadcast.shape,  # (B, B, P)
        (batch, 1, positions),  # with hidden.unsqueeze(1): (B, 1, P)
    )
    queries = labels("Q", batch)
    return WorkedExample(
        name="004-4",
        notation=notation(
            r"Q = \text{hidden}\,W_1 ↦ q; K = \text{encoding}\,W_2 ↦ k; "
            r"V = \text{encoding}\,W_3 ↦ v; QK^\top ↦ scores; \frac{QK^\top}{\sqrt{d_k}} ↦ scaled; "
            r"\mathrm{softmax}(\cdot) ↦ weights; \text{Attention}(Q, K, V) ↦ context"
        ),
        inputs=(
            Table(
                "examples.table.picture1",
                images[0, 0].numpy(),
                labels("r", 4, 0),
                labels("c", 4, 0),
            ),
            Table(
                "examples.table.picture2",
                images[1, 0].numpy(),
                labels("r", 4, 0),
                labels("c", 4, 0),
            ),
            Table(
                "examples.table.state", state.numpy(), labels("b=", batch), labels("h", c004.STATE)
            ),
            Table(
                "examples.table.feature_map",
                features[0].numpy(),
                cells,
                labels("ch", c004.CHANNELS),
            ),
        ),
        article_formulas=(
            r"\text{Attention}(Q, K, V) = \mathrm{softmax}\left(\frac{QK^\top}{\sqrt{d_k}}\right)V",
            r"\text{code: } \frac{QK^\top}{\sqrt{\text{hidden\_size}}}",
        ),
        correct_formulas=(
            r"Q = s\,W_Q \;(1 \times d_k),\quad K = F W_K,\; V = F W_V \;(P \times d_k)",
            r"\text{Attention}(Q, K, V) = \mathrm{softmax}\left(\frac{QK^\top}{\sqrt{d_k}}\right)V",
        ),
        steps=walks,
        as_written=(
            Table(
                "examples.table.broadcast_shapes",
                shapes,
                (
                    "examples.reading.shape_q",
                    "examples.reading.shape_k",
                    "examples.reading.shape_bbt",
                    "examples.reading.shape_fixed",
                ),
                ("dim 0", "dim 1", "dim 2"),
                keyed_rows=True,
            ),
            Table(
                "examples.table.broadcast_weights",
                written.reshape(batch * batch, positions),
                pairs,
                cells,
                heatmap=True,
            ),
            Table(
                "examples.table.weights_hidden_size",
                np.stack([written[b, b] for b in range(batch)]),
                queries,
                cells,
                heatmap=True,
            ),
        ),
        results=(
            Table(
                "examples.table.weights_difference",
                fixed_weights - np.stack([written[b, b] for b in range(batch)]),
                queries,
                cells,
                heatmap=True,
            ),
            *(
                Table(
                    f"examples.table.weights_map{b + 1}",
                    fixed_weights[b].reshape(SIDE, SIDE),
                    labels("r", 4, 0),
                    labels("c", 4, 0),
                    heatmap=True,
                )
                for b in range(batch)
            ),
        ),
        claims=(),
        failures=(
            fails(
                "examples.failure.missing_weight",
                "from torch import nn\nnn.Module().weight1",
                "4",
                (66, 66),
            ),
            fails("examples.failure.no_numpy", "import math\nnp.sqrt(8)", "4", (75, 75)),
        ),
        errata=(
            Erratum(
                "examples.errata.e004_pooling",
                "math",
                "3.3",
                (43, 43),
                note=True,
                also=(("4", (88, 88)), ("6", (106, 106))),
            ),
            Erratum(
                "examples.errata.e004_soft_threshold",
                "math",
                "3.3",
                (47, 47),
                also=(("4", (77, 77)), ("4", (88, 88)), ("6", (110, 110))),
            ),
            Erratum(
                "examples.errata.e004_scores_weights",
                "math",
                "3.3",
                (49, 49),
                "examples.step.picture1",
                also=(("4", (88, 88)), ("6", (112, 112))),
            ),
            Erratum("examples.errata.e004_no_conv", "code", "4", (55, 84)),
            Erratum("examples.errata.e004_cross", "code", "4", (64, 72), "examples.step.picture1"),
            Erratum(
                "examples.errata.e004_undefined",
                "code",
                "4",
                (60, 75),
                "examples.failure.missing_weight",
            ),
            Erratum(
                "examples.errata.e004_broadcast",
                "code",
                "4",
                (66, 75),
                "examples.table.broadcast_shapes",
            ),
            Erratum(
                "examples.errata.e004_scale",
                "code",
                "4",
                (75, 75),
                "examples.table.weights_hidden_size",
            ),
        ),
        listings=(listing("examples.listing.c004", "4", (55, 84), c004),),
    )


BUILDERS = {"004-4": _ex004}
