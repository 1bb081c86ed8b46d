"""How weights are read, and the one place that picks device and dtype.

The readers for each format live beside this file and check every key and shape; nothing here
knows a model: which files a model has is attnviz.zoo.registry's, and each model's checkpoint key
map lives with the model. Files are found through `importlib` in installed packages (never a
hard-coded path); nothing is fetched from a hub.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn


def installed_file(package: str, relpath: str) -> Path | None:
    """`relpath` inside the installed package `package` (located, never imported), or None."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / relpath
    return path if path.is_file() else None


def pick_device() -> torch.device:
    """CUDA when present, else the CPU. Models run in float32 on either."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


DTYPE = torch.float32


def assemble(make: Callable[[], nn.Module], state: dict[str, torch.Tensor]) -> nn.Module:
    """The module `make()` builds, holding exactly `state`'s tensors, with no random init.

    The module is made on the meta device (shapes only, no memory) and the checked tensors are
    then assigned in place of its parameters: `strict` still fails on a missing or extra key and
    on a wrong shape, and no weight is drawn at random or copied first.
    """
    with torch.device("meta"):
        net = make()
    net.load_state_dict(state, strict=True, assign=True)
    return net


def table(rows: int, width: int) -> nn.Embedding:
    """An embedding table for `assemble`: its weight is left empty, not drawn from a normal.

    (On the meta device nn.Embedding's own init, normal_, imports torch._dynamo: 2.5 s of a
    server's cold start.)
    """
    return nn.Embedding.from_pretrained(torch.empty(rows, width), freeze=True)
