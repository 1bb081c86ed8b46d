"""Head ablation as an argument of a forward: which heads are switched off, and to what.

    zero:  context[head] = 0                  the head adds nothing to the residual stream
    mean:  context[head] = means[layer, head]  its average output over the positions of the
                                               clean run, so only what it says *here* is lost

Applied to each layer's per-head context (..., H, T, Dh) right before the heads are merged and
the output projection runs: the same place transformers' `o_proj` reads them. A frozen value,
passed through `forward(..., ablation=...)`, never a hook or state on the shared model.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from attnviz.errors import InputError

MODES = ("zero", "mean")


@dataclass(frozen=True, eq=False)
class Ablation:
    heads: frozenset[tuple[int, int]]  # (layer, head), 0-based
    mode: str = "zero"
    means: np.ndarray | None = None  # (L, H, Dh) for mode "mean"

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {self.mode!r}")
        if self.mode == "mean" and self.means is None:
            raise ValueError("mean ablation needs the heads' mean outputs")

    def apply(self, layer: int, context: torch.Tensor) -> torch.Tensor:
        """context (..., H, T, Dh) with this layer's ablated heads replaced (a new tensor)."""
        heads = sorted(h for i, h in self.heads if i == layer)
        if not heads:
            return context
        context = context.clone()
        if self.mode == "zero":
            context[..., heads, :, :] = 0.0
        else:
            means = torch.as_tensor(self.means[layer, heads], dtype=context.dtype)  # (n, Dh)
            context[..., heads, :, :] = means.to(context.device)[:, None, :]
        return context


def parse_heads(text: str, layers: int, heads: int) -> frozenset[tuple[int, int]]:
    """ "L.H,L.H" (1-based, as the CLI and the page write heads) -> {(layer, head)} 0-based."""
    found = set()
    for part in text.replace(" ", "").split(","):
        if not part:
            continue
        try:
            layer, head = (int(x) for x in part.split("."))
        except ValueError:
            raise InputError("error.heads_format", part=part) from None
        if not (1 <= layer <= layers and 1 <= head <= heads):
            raise InputError("error.heads_range", part=part, layers=layers, heads=heads)
        found.add((layer - 1, head - 1))
    if not found:
        raise InputError("error.heads_none")
    return frozenset(found)


def name(layer: int, head: int) -> str:
    """A 0-based head as people write it: "L.H", 1-based."""
    return f"{layer + 1}.{head + 1}"
