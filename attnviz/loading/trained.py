"""The project's own trained checkpoints: models/NAME/{model.safetensors, config.json, ...}.

Loading is strict: the file's key set must be exactly the module's, every shape must match and
every weight must be a finite float32. safetensors holds raw tensors only, so reading runs no
code from the file.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import torch
from safetensors import safe_open
from torch import nn

TRAINED = ("sentiment-zh", "sentiment-en", "lstm-zh", "lstm-en", "digits")


def model_dir(name: str) -> Path:
    """models/NAME/ at the repository root, beside the attnviz package."""
    if name not in TRAINED:
        raise KeyError(f"unknown trained model {name!r}")
    return Path(str(resources.files("attnviz"))).parent / "models" / name


def read_config(folder: Path) -> dict:
    return json.loads((folder / "config.json").read_text("utf-8"))


def load_strict(module: nn.Module, path: Path) -> nn.Module:
    """Fill `module` from a safetensors file; ValueError on any missing, extra or odd tensor."""
    wanted = {key: tuple(value.shape) for key, value in module.state_dict().items()}
    with safe_open(str(path), framework="pt") as f:
        keys = set(f.keys())
        missing, extra = sorted(set(wanted) - keys), sorted(keys - set(wanted))
        if missing or extra:
            raise ValueError(f"{path}: missing keys {missing}, unexpected keys {extra}")
        tensors = {key: f.get_tensor(key) for key in sorted(keys)}
    for key, tensor in tensors.items():
        if tuple(tensor.shape) != wanted[key]:
            raise ValueError(
                f"{path}: {key} has shape {tuple(tensor.shape)}, expected {wanted[key]}"
            )
        if tensor.dtype != torch.float32:
            raise ValueError(f"{path}: {key} is {tensor.dtype}, expected float32")
        if not bool(torch.isfinite(tensor).all()):
            raise ValueError(f"{path}: {key} contains NaN or infinity")
    module.load_state_dict(tensors, strict=True)
    return module
