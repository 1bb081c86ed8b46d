"""Article 001 §5.2: the attention-pooling sequence classifier in PyTorch (split from a001: the
code example of the article, with its own data)."""

from __future__ import annotations

import math

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
    fails,
    labels,
    listing,
    notation,
)
from attnviz.examples.code import c001_52

# The article names the quantities in code, the corrected formulas with letters: tied once.
SYMBOLS = ("sₜ (attention_scores)", "sₜ (attention_scores)", "αₜ (weights)", "attended_embed")
SHOWN = ("abc", "ca")  # two texts of the data set, one of them padded
NAN = math.nan
SPLIT = "examples.table.split"
SHAPES = "examples.table.shapes_52"
LOSSES = "examples.table.epoch_loss"


def _counts(values: torch.Tensor) -> list[int]:
    """How many labels 0 and 1."""
    return [int((values == 0).sum()), int((values == 1).sum())]


def _ex001_52() -> WorkedExample:
    model, ids, targets, alphabet, train_rows, val_rows, _ = c001_52.fit()
    texts = [text for text, _ in c001_52.DATA]
    rows = [texts.index(text) for text in SHOWN]
    shown = ids[rows]  # (2, T)
    width = c001_52.WIDTH
    with torch.no_grad():
        embed = model.vectors(shown).double()  # (2, T, E)
        logits, alpha = model(shown)
        w = model.gate.w.double().numpy()
        bias = model.gate.b.double().numpy()
        unmasked = torch.softmax(embed @ torch.from_numpy(w) + float(bias), dim=-1)  # (2, T)
        # As written the loop visits the unshuffled first 80 % one sample at a time; the
        # printed "epoch loss" is the loss of the last one only.
        cut = int(0.8 * len(ids))
        loop_logits, _ = model(ids[:cut])
        per_sample = nn.functional.binary_cross_entropy_with_logits(
            loop_logits, targets[:cut].float(), reduction="none"
        )
    allowed = (shown != c001_52.PAD).numpy()  # (2, T)
    walks = []
    for b, text in enumerate(SHOWN):
        step = attend(
            np.zeros((1, width)),  # the linear score ignores the query
            embed[b].numpy(),  # (T, E)
            embed[b].numpy(),
            score="linear",
            params={"w": w, "b": bias},
            allowed=allowed[b : b + 1],  # (1, T)
        )
        tokens = tuple(text) + ("<PAD>",) * (shown.shape[1] - len(text))
        walks.append(
            Walk(f"examples.step.sequence{b + 1}", step, ("w, b",), tokens, dims(width), SYMBOLS)
        )
    quoted = tuple(f"“{s}”" for s in SHOWN)
    positions = labels("t=", shown.shape[1])
    n, longest = ids.shape
    return WorkedExample(
        name="001-5.2",
        notation=notation(
            r"\text{embed} = e_t ↦ k, v; \text{attention\_scores} = s_t ↦ scores; "
            r"\text{weights} = \alpha_t ↦ weights; "
            r"\text{attended\_embed} = \textstyle\sum_t \alpha_t e_t ↦ context"
        ),
        inputs=(
            Table("examples.table.token_ids", shown.numpy(), quoted, positions),
            Table(
                "examples.table.embedding",
                model.vectors.weight.detach().numpy(),
                alphabet,
                dims(width),
            ),
        ),
        article_formulas=(
            r"\text{scores} = \mathrm{squeeze}_2(\mathrm{Linear}_{E \to H}(\text{embed}))",
            r"\text{weights} = \mathrm{softmax}_{\dim=1}(\text{scores})",
            r"\text{output} = \mathrm{Linear}_{H \to 1}(\text{weights} \cdot \text{embed})",
        ),
        correct_formulas=(
            r"s_t = w^\top e_t + b, \quad s_t = -\infty \text{ at } \langle PAD \rangle",
            r"\alpha_t = \mathrm{softmax}(s)_t",
            r"\text{logit} = \mathrm{Linear}_{E \to 1}\Big(\sum_t \alpha_t e_t\Big)",
        ),
        steps=tuple(walks),
        as_written=(
            Table("examples.table.unmasked", unmasked.numpy(), quoted, positions),
            Table(
                SPLIT,
                [
                    _counts(targets[:cut]),
                    _counts(targets[cut:]),
                    _counts(targets[train_rows]),
                    _counts(targets[val_rows]),
                ],
                (
                    "examples.reading.split_train",
                    "examples.reading.split_val",
                    "examples.reading.shuffled_train",
                    "examples.reading.shuffled_val",
                ),
                ("label 0", "label 1"),
                keyed_rows=True,
            ),
            Table(
                LOSSES,
                [[float(per_sample[-1])], [float(per_sample.mean())]],
                ("examples.reading.loss_last", "examples.reading.loss_mean"),
                ("loss",),
                keyed_rows=True,
            ),
            Table(
                SHAPES,
                [(n, longest, NAN), (longest, NAN, NAN), (n, longest, width)],
                (
                    "examples.reading.inputs_before",
                    "examples.reading.inputs_rebound",
                    "examples.reading.embeddings",
                ),
                ("dim 0", "dim 1", "dim 2"),
                keyed_rows=True,
            ),
        ),
        results=(
            Table(
                "examples.table.per_sample_loss",
                per_sample.numpy()[:, None],
                texts[:cut],
                ("loss",),
            ),
            Table(
                "examples.table.logits",
                np.column_stack([logits.numpy(), torch.sigmoid(logits).numpy()]),
                quoted,
                ("logit", "sigmoid"),
            ),
        ),
        claims=(),
        failures=(
            fails(
                "examples.failure.unbatched",
                "import torch\nscores = torch.ones(3, 100)  # one sample: (T, H), no batch axis\n"
                "scores.squeeze(2)",
                "5.2.3",
                (369, 371),
            ),
            fails(
                "examples.failure.bmm_4d",
                "import torch\ntorch.bmm(torch.ones(2, 1, 3, 100), torch.ones(2, 3, 50))",
                "5.2.2",
                (344, 346),
            ),
            fails(
                "examples.failure.fc_width",
                "import torch\ntorch.nn.Linear(1, 1)(torch.ones(2, 50))",
                "5.2.2",
                (340, 347),
            ),
            fails(
                "examples.failure.scalar_unsqueeze",
                "import torch\ntorch.tensor(1).unsqueeze(1)",
                "5.2.3",
                (372, 372),
            ),
            fails(
                "examples.failure.scalar_size",
                "import torch\ntorch.tensor(1).size(0)",
                "5.2.4",
                (391, 391),
            ),
            fails(
                "examples.failure.int_target",
                "import torch\nloss = torch.nn.BCEWithLogitsLoss()\n"
                "loss(torch.zeros(2), torch.tensor([1, 0]))",
                "5.2.3",
                (362, 372),
            ),
        ),
        errata=(
            Erratum(
                "examples.errata.e001_squeeze",
                "code",
                "5.2.2",
                (339, 346),
                "examples.failure.bmm_4d",
            ),
            Erratum(
                "examples.errata.e001_fc_width",
                "code",
                "5.2.2",
                (340, 347),
                "examples.failure.fc_width",
            ),
            Erratum(
                "examples.errata.e001_padding",
                "code",
                "5.2.1",
                (315, 345),
                "examples.table.unmasked",
            ),
            Erratum("examples.errata.e001_split", "code", "5.2.1", (322, 327), SPLIT),
            Erratum(
                "examples.errata.e001_loss_name",
                "code",
                "5.2.3",
                (357, 362),
                note=True,
                also=(("5.3", (405, 405)),),
            ),  # fmt: skip
            Erratum(
                "examples.errata.e001_unbatched",
                "code",
                "5.2.3",
                (369, 391),
                "examples.failure.unbatched",
            ),
            Erratum("examples.errata.e001_rebind", "code", "5.2.3", (369, 369), SHAPES, note=True),
            Erratum(
                "examples.errata.e001_target_dtype",
                "code",
                "5.2.3",
                (362, 372),
                "examples.failure.int_target",
            ),
            Erratum("examples.errata.e001_epoch_loss", "code", "5.2.3", (375, 375), LOSSES),
            Erratum("examples.errata.e001_ids_embeddings", "code", "5.3", (403, 403), SHAPES),
        ),
        listings=(listing("examples.listing.c001_52", "5.2", (294, 395), c001_52),),
    )


BUILDERS = {"001-5.2": _ex001_52}
