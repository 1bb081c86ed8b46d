"""Attention classifiers over tokens: 001 §5.2's attention pooling and 000's LSTM + attention,
both corrected.

    pooling:  x = embedding[ids]                               (B, T, D)
    lstm:     x = LSTM(embedding[ids])                         (B, T, H)  unidirectional, as 000
    then      scores_j = w · x_j                               one score per token (linear gate)
              weights = softmax over the tokens, padding masked (over time, never over the batch)
              context = Σ_j weights_j x_j                      (B, D)
              logits  = W context + b                          (B, C)

The gate's bias is left out: it adds the same number to every score, and a softmax ignores that.
The attention is `attention.compute(..., score="linear")`, the same code the playground and the
worked examples run. `forward` returns `(logits, steps)`; nothing is stored on the module.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import torch
from tokenizers import Tokenizer
from torch import nn

from attnviz import attention, loading, text
from attnviz.errors import InputError
from attnviz.loading import trained
from attnviz.trace import ClassifierTrace
from attnviz.zoo import registry
from attnviz.zoo.registry import Prediction

KINDS = ("pooling", "lstm")
_HAN = re.compile("[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
PAD, UNK = "[PAD]", "[UNK]"
# A text whose letters are less than this share Chinese is "not Chinese" (and the converse).
SCRIPT_SHARE = 0.3


@dataclass(frozen=True)
class ClassifierConfig:
    name: str  # our model name: sentiment-zh, lstm-en, ...
    kind: str  # pooling | lstm
    language: str  # zh | en: what the model was trained on
    vocab: int  # rows of the embedding
    embed: int  # D of the embedding
    hidden: int  # LSTM width (0 for pooling)
    labels: tuple[str, ...]  # class names, in the order of the logits
    max_tokens: int  # the longest input read; more is cut (and said so)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {self.kind!r}")
        if (self.hidden > 0) != (self.kind == "lstm"):
            raise ValueError("hidden must be > 0 for lstm and 0 for pooling")
        if min(self.vocab, self.embed, self.max_tokens) <= 0 or len(self.labels) < 2:
            raise ValueError("vocab, embed and max_tokens must be positive, labels at least 2")

    @property
    def width(self) -> int:
        """Width of the vectors the attention pools: D, or H after an LSTM."""
        return self.hidden or self.embed


class Classifier(nn.Module):
    def __init__(self, config: ClassifierConfig) -> None:
        super().__init__()
        self.config = config
        self.embedding = nn.Embedding(config.vocab, config.embed, padding_idx=0)
        if config.kind == "lstm":
            self.lstm = nn.LSTM(config.embed, config.hidden, batch_first=True)
        self.score = nn.Linear(config.width, 1, bias=False)  # w: one score per token
        self.dropout = nn.Dropout(0.3)  # active only while training
        self.fc = nn.Linear(config.width, len(config.labels))

    def forward(self, ids, allowed: torch.Tensor, embedded=None) -> tuple[torch.Tensor, tuple]:
        """ids (B, T) int, allowed (B, T) bool (False on padding) -> logits (B, C), steps;
        `embedded` (B, T, D) replaces embedding[ids] (gradient × input differentiates it)."""
        x = self.dropout(self.embedding(ids) if embedded is None else embedded)  # (B, T, D)
        if self.config.kind == "lstm":
            x, _ = self.lstm(x)  # (B, T, H); padding sits at the end, so it never feeds a token
        steps = attention.compute(
            x.new_zeros(x.shape[0], 1, x.shape[2]),  # (B, 1, D): the linear gate ignores q
            x,  # k (B, T, D)
            x,  # v (B, T, D)
            score="linear",
            params={"w": self.score.weight[0]},  # (D,)
            allowed=allowed[:, None, :].cpu().numpy(),  # (B, 1, T)
        )
        logits = self.fc(self.dropout(steps.context[:, 0]))  # (B, C)
        return logits, steps


def encode(tokenizer: Tokenizer, texts: list[str], max_tokens: int) -> list[list[int]]:
    """Token ids of every text, cut at max_tokens; a text with no tokens becomes [UNK]."""
    unk = tokenizer.token_to_id(UNK)
    return [e.ids[:max_tokens] or [unk] for e in tokenizer.encode_batch(texts)]


def batch(rows: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    """ids (B, T) padded with [PAD] = 0 at the end, allowed (B, T); T = the longest row."""
    ids = torch.zeros(len(rows), max(len(row) for row in rows), dtype=torch.long)
    for i, row in enumerate(rows):
        ids[i, : len(row)] = torch.tensor(row)
    return ids, ids != 0


@dataclass(frozen=True)
class Loaded:
    """A trained classifier with its tokenizer, on the device, in eval mode."""

    config: ClassifierConfig
    model: Classifier
    tokenizer: Tokenizer
    device: torch.device


def load(name: str) -> Loaded:
    """models/NAME/ read strictly (see loading.trained.load_strict)."""
    folder = registry.model_dir(name)
    # config.json, less what the recipe measured (`held_out`: see `held_out` below)
    config = trained.as_config(ClassifierConfig, trained.read_config(folder), unread=["held_out"])
    if config.name != name:
        raise ValueError(f"{folder}: config names {config.name!r}, expected {name!r}")
    model = trained.load_strict(Classifier(config), folder / "model.safetensors")
    tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
    if tokenizer.get_vocab_size() != config.vocab or tokenizer.token_to_id(PAD) != 0:
        raise ValueError(f"{folder}: tokenizer does not match the config (vocab, [PAD] = 0)")
    device = loading.pick_device()
    return Loaded(config, model.to(device).eval(), tokenizer, device)


def held_out(name: str) -> dict:
    """What the recipe measured on the held-out texts (config.json's `held_out`): accuracy and
    count overall, and per data set its name, package, domain, accuracy and count."""
    return trained.read_config(registry.model_dir(name))["held_out"]


def _has_words(tokens: list[str]) -> bool:
    """Whether any known token holds a letter, a digit or a CJK character."""
    return any(tok != UNK and any(ch.isalnum() for ch in tok) for tok in tokens)


def trace(loaded: Loaded, sentence: str) -> ClassifierTrace:
    """One sentence through a loaded model: its prediction and the attention that led to it."""
    cleaned, _ = text.clean(sentence, key="error.text_empty")
    encoding = loaded.tokenizer.encode(cleaned)
    if not _has_words(encoding.tokens):
        raise InputError("error.sentiment_no_words")
    if 0 in encoding.ids:  # "[PAD]" typed: the tokenizer matches it as the padding id itself
        raise InputError("error.sentiment_padding")
    limit = loaded.config.max_tokens
    ids = torch.tensor([encoding.ids[:limit]], device=loaded.device)  # (1, T)
    with torch.no_grad():
        logits, steps = loaded.model(ids, torch.ones_like(ids, dtype=torch.bool))
    logits = logits[0].double()
    step = attention.sample_step(steps, 0, "linear")
    return ClassifierTrace(
        model=loaded.config.name,
        tokens=tuple(encoding.tokens[:limit]),
        step=step,
        logits=attention.to_numpy(logits),
        bias=attention.to_numpy(loaded.model.fc.bias.double()),
        probabilities=attention.to_numpy(torch.softmax(logits, dim=0)),
        labels=loaded.config.labels,
        dropped=max(0, len(encoding.ids) - limit),
    )


def other_language(language: str, sentence: str) -> bool:
    """Whether `sentence` looks written in the other language than `language` (zh | en)."""
    share = script_share(sentence)
    return share < SCRIPT_SHARE if language == "zh" else share > SCRIPT_SHARE


def script_share(sentence: str) -> float:
    """Share of CJK characters among the letters of a sentence (0 when it has none)."""
    letters = [ch for ch in sentence if ch.isalpha()]
    return sum(bool(_HAN.match(ch)) for ch in letters) / len(letters) if letters else 0.0


READS = "text"


def prepare(request) -> str:
    return request.text  # checked in `trace`


def notes(name: str, request) -> tuple:
    """The sentiment page's note when the text looks written in the other language."""
    from attnviz.images import Notice

    language = trained.read_config(registry.model_dir(name))["language"]
    if other_language(language, request.text):
        return (Notice(f"sentiment.other_language_{language}", {}),)
    return ()


def run(model: Loaded, name: str, sentence: str) -> ClassifierTrace:
    return trace(model, sentence)


def predict(result: ClassifierTrace):
    arrays = npz_arrays(result)
    shares = zip(result.labels, arrays["probabilities"].tolist(), strict=True)
    return Prediction(str(arrays["prediction"]), shares=tuple(shares))


def npz_arrays(result) -> dict[str, np.ndarray]:
    """The .npz arrays of one trace (the page's download and the CLI's `trace`)."""
    return {
        "tokens": np.array(result.tokens, dtype=str),  # (T,)
        "attentions": result.step.weights[0].astype(np.float32),  # (T,)
        "prediction": np.array(result.labels[result.prediction]),
        "probabilities": result.probabilities.astype(np.float32),  # (C,)
        "labels": np.array(result.labels, dtype=str),  # (C,)
    }
