"""Read a safetensors file strictly: the one reader for every checkpoint in that format.

nanoGPT's `from_pretrained` habit: the key set must be exactly the expected one and every shape
must match, every weight a finite float32, so a wrong or damaged file fails here, loudly, and
never half-loads. safetensors holds raw tensors only (no pickle), so reading it runs no code
from the file. Which keys a model expects is the model's business (its zoo file).
"""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors import safe_open

Shapes = dict[str, tuple[int, ...]]


def read_strict(path: Path, shapes: Shapes, unused: Shapes | None = None) -> dict:
    """{name: torch tensor} of every tensor of `path` named in `shapes`, each checked: keys,
    shapes, float32, finite.

    `unused` names tensors a file may carry that the model does not read: when present, only
    their shape is checked, and they are left out of the result.
    Raises ValueError on a missing or extra key, a wrong shape or dtype, or a NaN/inf weight.
    """
    unused = unused or {}
    expected = {**unused, **shapes}
    with safe_open(str(path), framework="pt") as f:
        keys = set(f.keys())
        missing, extra = sorted(set(shapes) - keys), sorted(keys - set(expected))
        if missing or extra:
            raise ValueError(f"{path}: missing keys {missing}, unexpected keys {extra}")
        tensors: dict[str, torch.Tensor] = {}
        for key in sorted(keys):
            tensor = f.get_tensor(key)
            if tuple(tensor.shape) != expected[key]:
                raise ValueError(
                    f"{path}: {key} has shape {tuple(tensor.shape)}, expected {expected[key]}"
                )
            if key in unused:
                continue
            if tensor.dtype != torch.float32:
                raise ValueError(f"{path}: {key} is {tensor.dtype}, expected float32")
            if not bool(torch.isfinite(tensor).all()):
                raise ValueError(f"{path}: {key} contains NaN or infinity")
            tensors[key] = tensor
    return tensors
