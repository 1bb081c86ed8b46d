"""Article 004: scaled dot-product attention over a CNN feature map."""

from __future__ import annotations

import math

import torch
from torch import nn

from attnviz.attention import attend
from attnviz.examples.base import (
    Table,
    Walk,
    WorkedExample,
    catch,
    dims,
    labels,
)

# ---------------------------------------------------------------------------------------------
# 004 §3.2 and §4: scaled dot-product attention over a CNN feature map
# ---------------------------------------------------------------------------------------------

_SIDE004, _CH004, _DK004 = 4, 8, 4  # 4 x 4 map, 8 channels, keys 4 wide


class _Undefined004(nn.Module):
    """The article's module as structured: it reads projection weights it never creates."""

    def __init__(self, hidden_size: int) -> None:
        super().__init__()
        self.hidden_size = hidden_size

    def forward(self, hidden: torch.Tensor, encoding: torch.Tensor) -> torch.Tensor:
        q = hidden @ self.weight1  # AttributeError: never defined
        return q


def _image004() -> torch.Tensor:
    """A 1-channel 4 x 4 picture: a bright 2 x 2 square in the top-left corner."""
    image = torch.zeros(1, 1, _SIDE004, _SIDE004, dtype=torch.float64)  # (B, C, H, W)
    image[0, 0, :2, :2] = 1.0
    return image


def _ex004() -> WorkedExample:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        conv = nn.Conv2d(1, _CH004, kernel_size=3, padding=1).double()
        wq = nn.Linear(_CH004, _DK004, bias=False).double()
        wk = nn.Linear(_CH004, _DK004, bias=False).double()
        wv = nn.Linear(_CH004, _DK004, bias=False).double()
        # Stand-ins for trained weights: with PyTorch's default (small) initialisation every
        # weight would be close to 1/16 and the picture would show nothing.
        nn.init.normal_(conv.weight, std=0.3)
        nn.init.normal_(wq.weight, std=1.0)
        nn.init.normal_(wk.weight, std=1.0)
    image = _image004()
    with torch.no_grad():
        fmap = torch.relu(conv(image))  # (1, C, 4, 4)
        x = fmap[0].flatten(1).T  # (P, C): P = 16 positions, row-major
        q, k, v = wq(x), wk(x), wv(x)  # (P, dk) each
    # Correct: divide by sqrt(d_k) = 2. As written: by sqrt(hidden_size) = sqrt(8).
    step = attend(q.numpy(), k.numpy(), v.numpy(), score="scaled_dot")
    step_written = attend(
        q.numpy(), k.numpy(), v.numpy(), score="dot", temperature=math.sqrt(_CH004)
    )
    positions = tuple(f"({r},{c})" for r in range(_SIDE004) for c in range(_SIDE004))
    return WorkedExample(
        name="004-4",
        article="004",
        section="4",
        notation=(
            (r"Q", "q"),
            (r"K", "k"),
            (r"V", "v"),
            (r"QK^\top", "scores"),
            (r"\frac{QK^\top}{\sqrt{d_k}}", "scaled"),
            (r"\mathrm{softmax}(\cdot)", "weights"),
            (r"\text{Attention}(Q, K, V)", "context"),
        ),
        inputs=(
            Table(
                "examples.table.image", image[0, 0].numpy(), labels("r", 4, 0), labels("c", 4, 0)
            ),
            Table("examples.table.feature_map", x.numpy(), positions, labels("ch", _CH004)),
        ),
        article_formulas=(
            r"\text{Attention}(Q, K, V) = \mathrm{softmax}\left(\frac{QK^\top}{\sqrt{d_k}}\right)V",
            r"\text{code: } \frac{QK^\top}{\sqrt{\text{hidden\_size}}}",
        ),
        correct_formulas=(
            r"Q = XW_Q,\; K = XW_K,\; V = XW_V \quad (X: P \times C)",
            r"\text{Attention}(Q, K, V) = \mathrm{softmax}\left(\frac{QK^\top}{\sqrt{d_k}}\right)V",
        ),
        steps=(Walk("examples.step.correct", step, positions, positions, dims(_DK004)),),
        as_written=(
            Table(
                "examples.table.weights_hidden_size",
                step_written.weights,
                positions,
                positions,
                heatmap=True,
            ),
        ),
        results=(
            Table(
                "examples.table.weights_difference",
                step.weights - step_written.weights,
                positions,
                positions,
                heatmap=True,
            ),
        ),
        claims=(),
        failures=(
            catch(
                "Q = matmul(hidden, self.weight1)",
                lambda: _Undefined004(_CH004)(x, x),
            ),
            # The module never imports numpy; evaluate its scaling line where np is unbound.
            catch(
                "np.sqrt(self.hidden_size)",
                lambda: eval("np.sqrt(8)", {"__builtins__": {}}),  # noqa: S307 - fixed text
            ),
        ),
        errata=(
            "examples.errata.e004_undefined",
            "examples.errata.e004_scale",
            "examples.errata.e004_soft_threshold",
            "examples.errata.e004_pooling",
            "examples.errata.e004_scores_weights",
        ),
    )


BUILDERS = {"004-4": _ex004}
