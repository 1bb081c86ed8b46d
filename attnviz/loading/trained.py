"""Read the models trained here (models/NAME/: model.safetensors + config.json), strictly.

The key set must be exactly the one the module (or config) implies, every shape must match and
every weight must be a finite float32, so a stale or damaged checkpoint fails here, loudly, and
never half-loads. safetensors holds raw tensors only: reading runs no code from the file.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import safe_open
from torch import nn

from attnviz import loading


def read_checked(path: Path, shapes: dict[str, tuple[int, ...]]) -> dict[str, torch.Tensor]:
    """Every tensor of a safetensors file, checked against `shapes` (keys, shapes, float32, finite).

    Raises ValueError on a missing or extra key, a wrong shape or dtype, or a NaN/inf weight.
    """
    with safe_open(str(path), framework="pt") as f:
        keys = set(f.keys())
        missing, extra = sorted(set(shapes) - keys), sorted(keys - set(shapes))
        if missing or extra:
            raise ValueError(f"{path}: missing keys {missing}, unexpected keys {extra}")
        tensors = {key: f.get_tensor(key) for key in sorted(keys)}
    for key, tensor in tensors.items():
        if tuple(tensor.shape) != shapes[key]:
            raise ValueError(
                f"{path}: {key} has shape {tuple(tensor.shape)}, expected {shapes[key]}"
            )
        if tensor.dtype != torch.float32:
            raise ValueError(f"{path}: {key} is {tensor.dtype}, expected float32")
        if not bool(torch.isfinite(tensor).all()):
            raise ValueError(f"{path}: {key} contains NaN or infinity")
    return tensors


def load_strict(module: nn.Module, path: Path) -> nn.Module:
    """Fill `module` from a safetensors file whose tensors are exactly the module's."""
    shapes = {key: tuple(value.shape) for key, value in module.state_dict().items()}
    module.load_state_dict(read_checked(path, shapes), strict=True)
    return module


def model_dir(name: str) -> Path:
    """models/NAME/ of a model trained here (where its recipe writes)."""
    if name not in loading.MODELS or loading.MODELS[name].package is not None:
        raise KeyError(f"{name!r} is not a model trained here")
    return loading.TRAINED / name


def read_config(folder: Path) -> dict:
    return json.loads((folder / "config.json").read_text("utf-8"))
