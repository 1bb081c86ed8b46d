"""Article 000: an LSTM encoder, an 'attention' module and an LSTM decoder (code)."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from attnviz.attention import attend
from attnviz.examples.base import (
    Table,
    Walk,
    WorkedExample,
    dims,
    labels,
)

# ---------------------------------------------------------------------------------------------
# 000: LSTM encoder + "attention" + LSTM decoder (code section)
# ---------------------------------------------------------------------------------------------

# The article's widths are 50 -> 256 -> 50; we keep the structure with widths 4 -> 6 -> 4 so
# every number fits on screen. The bugs do not depend on the widths.
_E000, _H000, _T000, _B000 = 4, 6, 5, 2


def _ex000() -> WorkedExample:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        encoder = nn.LSTM(_E000, _H000).double()  # article: LSTM(50, 256), batch_first=False
        gate = nn.Linear(_H000, _H000).double()  # article: Linear(256, 256)
        decoder = nn.LSTM(_H000, _E000).double()  # article: LSTM(256, 50)
        score = nn.Linear(_H000, 1).double()  # ours: one score per position
        # A stand-in for a trained scorer: wide enough that the weights visibly differ.
        nn.init.normal_(score.weight, std=4.0)
        inputs = torch.randn(_T000, _B000, _E000, dtype=torch.float64)  # (T, B, E)

    with torch.no_grad():
        # As written: LSTM output is (T, B, H) because batch_first defaults to False.
        h, _ = encoder(inputs)  # (T, B, H)
        gate_weights = torch.softmax(gate(h), dim=1)  # (T, B, H): normalised over B
        gated = h * gate_weights  # (T, B, H): elementwise, no sum over positions
        decoder(gated)  # runs without an error: the bug is silent
        # With a batch of one, softmax over a length-1 axis is exactly 1: the module is a no-op.
        h1, _ = encoder(inputs[:, :1])  # (T, 1, H)
        ones = torch.softmax(gate(h1), dim=1)  # (T, 1, H)
        # Unbatched input (T, E): the output is (T, H) and dim=1 is now the feature axis.
        h_unbatched, _ = encoder(inputs[:, 0])  # (T, H)
        per_feature = torch.softmax(gate(h_unbatched), dim=1)  # (T, H): rows sum to 1

        # Corrected: one score per position, softmax over time, weighted sum of the positions.
        hb = h.transpose(0, 1)  # (B, T, H)
        w = score.weight[0]  # (H,); the bias adds the same number to every score: no effect
        walks = []
        contexts = []
        for b in range(_B000):
            step = attend(
                np.zeros((1, _H000)),  # the linear score ignores the query; it only sets Tq = 1
                hb[b].numpy(),  # (T, H)
                hb[b].numpy(),  # (T, H)
                score="linear",
                params={"w": w.numpy()},
            )
            walks.append(
                Walk(
                    f"examples.step.sequence{b + 1}",
                    step,
                    ("c",),
                    labels("h_", _T000),
                    dims(_H000),
                )
            )
            contexts.append(step.context[0])
        context = torch.as_tensor(np.stack(contexts))  # (B, H)
        # The same decoder reads the context at every step, in its own (T, B, H) layout.
        decoded, _ = decoder(context[None].expand(_T000, _B000, _H000))  # (T, B, E)

    features = dims(_H000)
    batch = labels("b=", _B000)
    return WorkedExample(
        name="000-code",
        article="000",
        section="code",
        notation=(
            (r"\text{Input Data}", "k, v"),
            (r"\text{Attention Score}", "scores"),
            (r"\text{Attention Weight}", "weights"),
            (r"\text{Output}", "context"),
        ),
        inputs=(
            Table("examples.table.input_t1", inputs[0].numpy(), batch, dims(_E000)),
            Table("examples.table.encoder_t1", h[0].numpy(), batch, features),
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
        steps=tuple(walks),
        as_written=(
            Table("examples.table.gate_t1", gate_weights[0].numpy(), batch, features),
            Table(
                "examples.table.gate_sum_batch",
                gate_weights.sum(dim=1).numpy(),  # (T, H): all ones
                labels("t=", _T000),
                features,
            ),
            Table("examples.table.gated_t1", gated[0].numpy(), batch, features),
            Table("examples.table.gate_batch1", ones[:, 0].numpy(), labels("t=", _T000), features),
            Table(
                "examples.table.gate_unbatched",
                per_feature.numpy(),
                labels("t=", _T000),
                features,
            ),
        ),
        results=(
            Table("examples.table.context", context.numpy(), batch, features),
            Table("examples.table.decoder_t1", decoded[0].numpy(), batch, dims(_E000)),
        ),
        claims=(),
        failures=(),
        errata=("examples.errata.e000_batch_axis", "examples.errata.e000_gate"),
    )


BUILDERS = {"000-code": _ex000}
