"""Every model name the CLI and the pages use, mapped to its family: one table, one entry point.

A family is a module of `attnviz.zoo` that gives the same things (five, and two optional), so
that the CLI (and any other caller) runs every model through one code path, never branching on
its kind:

    READS                        "text" or "image": which input the model takes
    prepare(request) -> value    the model's input, checked before any model loads (InputError)
    load(name) -> model          the files read through `loading/` (their locations: loading.MODELS)
    run(model, name, value)      one forward -> the family's typed trace
    npz_arrays(trace)            the trace's arrays for the `.npz` export, the open trace format
    predict(trace) -> Prediction optional: what `python -m attnviz predict` prints
    notes(name, request)         optional: the notices a page gives about this input (images.Notice)

A new family is one zoo file with these and one line in FAMILIES (plus its files in
loading.MODELS). Nothing is imported here until a name is asked for.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType
from typing import Any

# model name -> the zoo module of its family
FAMILIES = {
    "minilm": "bert",
    "e5": "bert",
    "dinov2": "dinov2",
    "dates-additive": "seq2seq",
    "dates-general": "seq2seq",
    "sentiment-zh": "classifier",
    "sentiment-en": "classifier",
    "lstm-zh": "classifier",
    "lstm-en": "classifier",
    "digits": "cnn_attention",
    "smollm2": "decoder",
}


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
    return importlib.import_module(f"attnviz.zoo.{FAMILIES[name]}")


def trace(name: str, request: Request, model: Any = None) -> Any:
    """The trace of one input through model `name`; `model` is loaded unless given.

    The input is checked first, so bad input fails before a model is read.
    """
    fam = family(name)
    value = fam.prepare(request)
    return fam.run(fam.load(name) if model is None else model, name, value)
