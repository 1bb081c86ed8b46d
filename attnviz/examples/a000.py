"""Article 000: an LSTM encoder, an 'attention' module and an LSTM decoder (code section)."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from attnviz.attention import attend
from attnviz.examples.base import (
    Erratum,
    Table,
    Walk,
    WorkedExample,
    dims,
    labels,
    listing,
    notation,
)
from attnviz.examples.code import c000

# The article names the quantities in words, the corrected formulas with letters: each pair
# is tied once, here and in the notation line.
SYMBOLS = ("sₜ (Attention Score)", "sₜ (Attention Score)", "αₜ (Attention Weight)", "c (Output)")
T, B, E, H = c000.STEPS, c000.BATCH, c000.FEATURES, c000.HIDDEN

ARTICLE_ERRATA = (
    Erratum("examples.errata.e000_sum_decides", "math", "steps", (21, 21)),
    Erratum("examples.errata.e000_multihead", "math", "faq", (106, 108)),
    Erratum("examples.errata.e000_arxiv_sat", "refs", "tools", (85, 85)),
    Erratum("examples.errata.e000_arxiv_bahdanau", "refs", "tools", (86, 86)),
)


def _normalised_over_axis1(states: torch.Tensor, gate: nn.Linear) -> torch.Tensor:
    """What the article's module computes: a softmax over axis 1 of whatever layout it gets."""
    return torch.softmax(gate(states), dim=1)


def _ex000() -> WorkedExample:
    model, inputs = c000.demo()  # inputs (B, T, E)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(1)
        gate = nn.Linear(H, H).double()  # the article's Linear(256, 256), narrowed to H
    with torch.no_grad():
        alpha, context, decoded = model(inputs)
        states, _ = model.encoder(inputs)  # (B, T, H)
        # As written the LSTM gets (T, B, E) (batch_first=False) and returns (T, B, H):
        by_time = states.transpose(0, 1)  # (T, B, H), the same numbers in the default layout
        gate_weights = _normalised_over_axis1(by_time, gate)  # (T, B, H): over the batch
        gated = by_time * gate_weights  # (T, B, H): elementwise, nothing summed over time
        # A batch of one: a softmax over an axis of length 1 is exactly 1.
        ones = _normalised_over_axis1(by_time[:, :1], gate)  # (T, 1, H)
        # Unbatched (T, E) input: the output is (T, H) and axis 1 is the features.
        per_feature = _normalised_over_axis1(by_time[:, 0], gate)  # (T, H)

    w, bias = model.score.weight[0].detach().numpy(), model.score.bias[0].detach().numpy()
    walks = tuple(
        Walk(
            f"examples.step.sequence{b + 1}",
            attend(
                np.zeros((1, H)),  # the linear score ignores the query; it only sets Tq = 1
                states[b].numpy(),  # (T, H): keys and values are the encoder states
                states[b].numpy(),
                score="linear",
                params={"w": w, "b": bias},
            ),
            ("w, b",),
            labels("h_", T),
            dims(H),
            SYMBOLS,
        )
        for b in range(B)
    )
    features = dims(H)
    batch = labels("b=", B)
    steps = labels("t=", T)
    return WorkedExample(
        name="000-code",
        notation=notation(
            r"\text{Input Data} = h_t ↦ k, v; \text{Attention Score} = s_t ↦ scores; "
            r"\text{Attention Weight} = \alpha_t ↦ weights; \text{Output} = c ↦ context"
        ),
        inputs=(
            Table("examples.table.input_t1", inputs[:, 0].numpy(), batch, dims(E)),
            Table("examples.table.encoder_t1", states[:, 0].numpy(), batch, features),
            Table("examples.table.scorer", np.append(w, bias)[None], ("w, b",), (*features, "b")),
        ),
        article_formulas=(
            r"\text{Attention Score} = \text{Attention Network}(\text{Input Data})",
            r"\text{Attention Weight} = \mathrm{softmax}(\text{Attention Score})",
            r"\text{Output} = \text{Weighted Sum}(\text{Input Data}, \text{Attention Weight})",
        ),
        correct_formulas=(
            r"s_t = w^\top h_t + b",
            r"\alpha_t = \frac{\exp(s_t)}{\sum_{t'=1}^{T} \exp(s_{t'})}",
            r"c = \sum_{t=1}^{T} \alpha_t h_t",
        ),
        steps=walks,
        as_written=(
            Table("examples.table.gate_t1", gate_weights[0].numpy(), batch, features),
            Table(
                "examples.table.gate_sum_batch", gate_weights.sum(dim=1).numpy(), steps, features
            ),
            Table("examples.table.gated_t1", gated[0].numpy(), batch, features),
            Table("examples.table.gate_batch1", ones[:, 0].numpy(), steps, features),
            Table("examples.table.gate_unbatched", per_feature.numpy(), steps, features),
        ),
        results=(
            Table("examples.table.alpha", alpha.numpy(), batch, steps),
            Table("examples.table.context", context.numpy(), batch, features),
            Table("examples.table.decoder_t1", decoded[:, 0].numpy(), batch, dims(E)),
        ),
        claims=(),
        failures=(),
        errata=(
            Erratum(
                "examples.errata.e000_gate", "code", "code", (58, 60), "examples.table.gated_t1"
            ),
            Erratum(
                "examples.errata.e000_batch_axis",
                "code",
                "code",
                (59, 65),
                "examples.table.gate_t1",
            ),
        ),
        listings=(listing("examples.listing.c000", "code", (49, 74), c000),),
    )


BUILDERS = {"000-code": _ex000}
