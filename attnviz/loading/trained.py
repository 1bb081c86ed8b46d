"""Read the models trained here (models/NAME/: model.safetensors + config.json), strictly.

The key set must be exactly the one the module (or config) implies, every shape must match and
every weight must be a finite float32, so a stale or damaged checkpoint fails here, loudly, and
never half-loads. safetensors holds raw tensors only: reading runs no code from the file.
"""

from __future__ import annotations

import json
from pathlib import Path

from torch import nn

from attnviz.loading.safetensors_reader import read_strict


def load_strict(module: nn.Module, path: Path) -> nn.Module:
    """Fill `module` from a safetensors file whose tensors are exactly the module's."""
    shapes = {key: tuple(value.shape) for key, value in module.state_dict().items()}
    module.load_state_dict(read_strict(path, shapes), strict=True)
    return module


def read_config(folder: Path) -> dict:
    return json.loads((folder / "config.json").read_text("utf-8"))
