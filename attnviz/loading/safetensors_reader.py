"""Read a Hugging Face BERT checkpoint (model.safetensors + config.json) with strict checks.

nanoGPT's `from_pretrained` habit: the key set must be exactly the expected one and every shape
must match the config, so a wrong or damaged file fails here, loudly, and never half-loads.
safetensors holds raw tensors only (no pickle), so reading it runs no code from the file.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import safe_open

# Keys a sentence-transformers BERT export carries that the encoder does not use: the
# position_ids buffer (we build positions ourselves) and the pooler (we mean-pool instead).
UNUSED = ("embeddings.position_ids", "pooler.dense.weight", "pooler.dense.bias")


def read_config(path: Path) -> dict:
    """config.json as a dict, checked to describe the post-LN BERT that zoo/bert.py implements."""
    config = json.loads(Path(path).read_text("utf-8"))
    wanted = {"model_type": "bert", "hidden_act": "gelu", "position_embedding_type": "absolute"}
    for key, value in wanted.items():
        if config.get(key, value) != value:
            raise ValueError(f"{path}: {key} is {config.get(key)!r}, expected {value!r}")
    return config


def expected_shapes(config: dict) -> dict[str, tuple[int, ...]]:
    """Every key of the checkpoint and its shape, from the config alone."""
    d, f = config["hidden_size"], config["intermediate_size"]
    shapes: dict[str, tuple[int, ...]] = {
        "embeddings.word_embeddings.weight": (config["vocab_size"], d),
        "embeddings.position_embeddings.weight": (config["max_position_embeddings"], d),
        "embeddings.token_type_embeddings.weight": (config["type_vocab_size"], d),
        "embeddings.LayerNorm.weight": (d,),
        "embeddings.LayerNorm.bias": (d,),
        "embeddings.position_ids": (1, config["max_position_embeddings"]),
        "pooler.dense.weight": (d, d),
        "pooler.dense.bias": (d,),
    }
    for i in range(config["num_hidden_layers"]):
        p = f"encoder.layer.{i}."
        for name in ("query", "key", "value"):
            shapes[f"{p}attention.self.{name}.weight"] = (d, d)
            shapes[f"{p}attention.self.{name}.bias"] = (d,)
        shapes[f"{p}attention.output.dense.weight"] = (d, d)
        shapes[f"{p}attention.output.dense.bias"] = (d,)
        shapes[f"{p}attention.output.LayerNorm.weight"] = (d,)
        shapes[f"{p}attention.output.LayerNorm.bias"] = (d,)
        shapes[f"{p}intermediate.dense.weight"] = (f, d)
        shapes[f"{p}intermediate.dense.bias"] = (f,)
        shapes[f"{p}output.dense.weight"] = (d, f)
        shapes[f"{p}output.dense.bias"] = (d,)
        shapes[f"{p}output.LayerNorm.weight"] = (d,)
        shapes[f"{p}output.LayerNorm.bias"] = (d,)
    return shapes


def read_bert(path: Path, config: dict) -> dict[str, torch.Tensor]:
    """The encoder's float32 tensors by their Hugging Face names (UNUSED keys checked, dropped).

    Raises ValueError on a missing or extra key, a wrong shape or dtype, or a NaN/inf weight.
    """
    shapes = expected_shapes(config)
    with safe_open(str(path), framework="pt") as f:
        keys = set(f.keys())
        missing, extra = sorted(set(shapes) - keys), sorted(keys - set(shapes))
        # The two unused buffers may be absent in other exports; everything else must be there.
        missing = [key for key in missing if key not in UNUSED]
        if missing or extra:
            raise ValueError(f"{path}: missing keys {missing}, unexpected keys {extra}")
        tensors: dict[str, torch.Tensor] = {}
        for key in sorted(keys):
            tensor = f.get_tensor(key)
            if tuple(tensor.shape) != shapes[key]:
                raise ValueError(
                    f"{path}: {key} has shape {tuple(tensor.shape)}, expected {shapes[key]}"
                )
            if key in UNUSED:
                continue
            if tensor.dtype != torch.float32:
                raise ValueError(f"{path}: {key} is {tensor.dtype}, expected float32")
            if not bool(torch.isfinite(tensor).all()):
                raise ValueError(f"{path}: {key} contains NaN or infinity")
            tensors[key] = tensor
    return tensors
