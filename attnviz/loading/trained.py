"""Read the models trained here (models/NAME/: model.safetensors + config.json), strictly.

The key set must be exactly the one the module (or config) implies, every shape must match and
every weight must be a finite float32, so a stale or damaged checkpoint fails here, loudly, and
never half-loads. safetensors holds raw tensors only: reading runs no code from the file. A
config.json becomes its model's frozen config through `as_config`, the one way for every family.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from torch import nn

from attnviz.loading.safetensors_reader import read_strict

Config = TypeVar("Config")


def load_strict(module: nn.Module, path: Path) -> nn.Module:
    """Fill `module` from a safetensors file whose tensors are exactly the module's."""
    shapes = {key: tuple(value.shape) for key, value in module.state_dict().items()}
    module.load_state_dict(read_strict(path, shapes), strict=True)
    return module


def read_config(folder: Path) -> dict:
    return json.loads((folder / "config.json").read_text("utf-8"))


def as_config(cls: type[Config], values: Mapping[str, Any], unread: Iterable[str] = ()) -> Config:
    """The frozen config dataclass `cls` from a dict (a config.json's): no key it does not know
    (but those in `unread`, left out), none of its fields without a default missing, JSON lists
    as tuples. Raises ValueError, as the config's own checks do (never TypeError, never assert).
    """
    fields = dataclasses.fields(cls)
    given = {key: value for key, value in values.items() if key not in set(unread)}
    unknown = sorted(set(given) - {f.name for f in fields})
    missing = [
        f.name
        for f in fields
        if f.name not in given
        and f.default is dataclasses.MISSING
        and f.default_factory is dataclasses.MISSING
    ]
    if unknown or missing:
        raise ValueError(f"{cls.__name__}: unknown keys {unknown}, missing keys {missing}")
    return cls(**{key: tuple(v) if isinstance(v, list) else v for key, v in given.items()})
