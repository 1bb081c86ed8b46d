"""A character-level seq2seq model that rewrites dates as ISO (2026-11-22), with attention.

    encoder   h_1..h_Tk = BiGRU(embed(x))                      k = v = h      (Tk, 2He)
    start     s_0 = tanh(W_s [h_fwd_last; h_bwd_first])
    step t    q = s_{t-1}                                       (Dd,)
              steps = attention.compute(q, h, h, score)         additive: wᵀ tanh(W1 q + W2 h_j)
                                                                general:  qᵀ W h_j
              s_t = GRUCell([embed(y_{t-1}); context], s_{t-1})
              y_t = argmax W_o [s_t; context; embed(y_{t-1})]

Bahdanau's decoder (the query is the state before the step, the context feeds the GRU); the two
trained models differ only in the score function, so their alignments compare like for like.
The output is always 10 characters (YYYY-MM-DD), so decoding runs exactly 10 steps.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from attnviz import attention, dateforms, loading
from attnviz.errors import InputError
from attnviz.loading import trained
from attnviz.loading.safetensors_reader import read_strict
from attnviz.trace import AttentionStep
from attnviz.zoo import registry
from attnviz.zoo.registry import Prediction

PAD, UNKNOWN = 0, 1  # input ids; the characters of config.input_chars start at 2
START = 0  # output id fed to the first decoder step; config.output_chars start at 1
UNKNOWN_LABEL = "�"  # how a character outside the vocabulary shows on the axes
SCORES = ("additive", "general")


@dataclass(frozen=True)
class Seq2SeqConfig:
    score: str  # "additive" (Bahdanau) or "general" (Luong)
    input_chars: str  # the input vocabulary
    output_chars: str = "0123456789-"
    embed: int = 32  # E, input character embedding
    out_embed: int = 16  # Eo, output character embedding
    encoder: int = 64  # He, per direction
    decoder: int = 96  # Dd
    attention: int = 64  # Da, width of the additive scorer
    out_len: int = 10  # YYYY-MM-DD
    max_input: int = 48  # longer text is refused before the model runs

    def __post_init__(self) -> None:
        if self.score not in SCORES:
            raise ValueError(f"score must be one of {SCORES}, got {self.score!r}")
        for name in ("input_chars", "output_chars"):
            chars = getattr(self, name)
            if not chars or len(set(chars)) != len(chars):
                raise ValueError(f"{name} must be distinct characters, at least one")
        widths = ("embed", "out_embed", "encoder", "decoder", "attention", "out_len", "max_input")
        for name in widths:
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")


@dataclass(frozen=True, eq=False)
class DateTrace:
    """One input through one model: the alignment and every decoder step's attention.

    `step` holds the model's own numbers for all decoder steps at once: row t of q is the decoder
    state s_{t-1} that asked, k = v are the encoder states, weights (Tq, Tk) is the alignment.
    """

    model: str
    input_tokens: tuple[str, ...]  # (Tk,)
    output_tokens: tuple[str, ...]  # (Tq,)
    step: AttentionStep  # q (Tq, Dd), k = v (Tk, 2He), scores/weights (Tq, Tk), context (Tq, 2He)
    confidence: np.ndarray  # (Tq,) probability the model gave each output character
    unknown: tuple[str, ...]  # input characters outside the vocabulary, in order of appearance

    @property
    def prediction(self) -> str:
        return "".join(self.output_tokens)

    @property
    def form(self) -> str | None:
        """The training form that writes the predicted date exactly as the input, if any."""
        return dateforms.form_of("".join(self.input_tokens), dateforms.parse_iso(self.prediction))

    def notices(self) -> list[str]:
        """Catalog keys of each reason to read the output as a best effort only."""
        out = ["seq2seq.notice.unknown_chars"] if self.unknown else []
        if not dateforms.looks_like_date("".join(self.input_tokens)):
            out.append("seq2seq.notice.no_date_in_input")  # the output is invented
        elif dateforms.parse_iso(self.prediction) is None:
            out.append("seq2seq.notice.not_a_date")
        elif self.form is None:
            out.append("seq2seq.notice.outside_forms")
        return out

    @property
    def weights(self) -> np.ndarray:
        """The alignment (Tq, Tk): row t is where output character t looked."""
        return self.step.weights


class Seq2Seq(nn.Module):
    def __init__(self, config: Seq2SeqConfig) -> None:
        super().__init__()
        c = self.config = config
        self.embed = nn.Embedding(len(c.input_chars) + 2, c.embed, padding_idx=PAD)
        self.encoder = nn.GRU(c.embed, c.encoder, batch_first=True, bidirectional=True)
        self.bridge = nn.Linear(2 * c.encoder, c.decoder)
        self.out_embed = nn.Embedding(len(c.output_chars) + 1, c.out_embed)
        self.cell = nn.GRUCell(c.out_embed + 2 * c.encoder, c.decoder)
        self.readout = nn.Linear(c.decoder + 2 * c.encoder + c.out_embed, len(c.output_chars) + 1)
        dk = 2 * c.encoder
        if c.score == "additive":
            shapes = {"W1": (c.attention, c.decoder), "W2": (c.attention, dk), "w": (c.attention,)}
        else:
            shapes = {"W": (c.decoder, dk)}
        self.score_params = nn.ParameterDict(
            {
                name: nn.Parameter(torch.empty(shape).uniform_(-1, 1) / shape[-1] ** 0.5)
                for name, shape in shapes.items()
            }
        )
        self.char_id = {ch: i + 2 for i, ch in enumerate(c.input_chars)}

    # ------------------------------------------------------------------ text <-> ids

    def tokenize(self, text: str) -> tuple[list[int], list[str], list[str]]:
        """(ids, labels, unknown characters) of one input; InputError when it cannot be read."""
        text = dateforms.normalize(text)
        if not text:
            raise InputError("error.date_empty")
        if len(text) > self.config.max_input:
            raise InputError("error.date_too_long", limit=self.config.max_input, got=len(text))
        ids = [self.char_id.get(ch, UNKNOWN) for ch in text]
        if all(i == UNKNOWN for i in ids):
            raise InputError("error.date_no_known_chars")
        labels = [ch if i != UNKNOWN else UNKNOWN_LABEL for ch, i in zip(text, ids, strict=True)]
        unknown = list(dict.fromkeys(ch for ch, i in zip(text, ids, strict=True) if i == UNKNOWN))
        return ids, labels, unknown

    def batch(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Padded ids (B, Tk) and lengths (B,) of normalized texts (training, evaluation)."""
        ids = [[self.char_id.get(ch, UNKNOWN) for ch in text] for text in texts]
        lengths = torch.tensor([len(row) for row in ids])
        padded = torch.full((len(ids), int(lengths.max())), PAD, dtype=torch.long)
        for row, line in enumerate(ids):
            padded[row, : len(line)] = torch.tensor(line)
        return padded, lengths

    def targets(self, isos: list[str]) -> torch.Tensor:
        """(B, Tq) output ids of ISO strings."""
        chars = self.config.output_chars
        return torch.tensor([[chars.index(ch) + 1 for ch in iso] for iso in isos])

    # ------------------------------------------------------------------ forward

    def encode(self, ids: torch.Tensor, lengths: torch.Tensor):
        """Encoder states h (B, Tk, 2He), the first decoder state (B, Dd), allowed (B, 1, Tk)."""
        packed = pack_padded_sequence(
            self.embed(ids), lengths.cpu(), batch_first=True, enforce_sorted=False
        )
        out, last = self.encoder(packed)  # last: (2, B, He), the final state of each direction
        h, _ = pad_packed_sequence(out, batch_first=True, total_length=ids.shape[1])  # (B,Tk,2He)
        s = torch.tanh(self.bridge(torch.cat([last[0], last[1]], dim=-1)))  # (B, Dd)
        allowed = None  # every key is real when no row is padded: nothing to mask
        if int(lengths.min()) < ids.shape[1]:
            positions = np.arange(ids.shape[1])
            allowed = positions[None, None, :] < lengths.cpu().numpy()[:, None, None]  # (B,1,Tk)
        return h, s, allowed

    def step(self, prev: torch.Tensor, s: torch.Tensor, h: torch.Tensor, allowed):
        """One decoder step: (logits (B, V), next state (B, Dd), the attention Steps)."""
        steps = attention.compute(
            s.unsqueeze(1),  # (B, 1, Dd): one query per sequence
            h,
            h,
            score=self.config.score,
            allowed=allowed,
            params=dict(self.score_params),
        )
        context = steps.context.squeeze(1)  # (B, 2He)
        e = self.out_embed(prev)  # (B, Eo)
        s_next = self.cell(torch.cat([e, context], dim=-1), s)
        logits = self.readout(torch.cat([s_next, context, e], dim=-1))  # (B, V)
        return logits, s_next, steps

    def forward(self, ids, lengths, targets: torch.Tensor | None = None) -> torch.Tensor:
        """Logits (B, Tq, V): teacher-forced when `targets` (B, Tq) are given, else greedy."""
        h, s, allowed = self.encode(ids, lengths)
        prev = torch.full((ids.shape[0],), START, dtype=torch.long, device=ids.device)
        out = []
        for t in range(self.config.out_len):
            logits, s, _ = self.step(prev, s, h, allowed)
            out.append(logits)
            prev = targets[:, t] if targets is not None else logits.argmax(-1)
        return torch.stack(out, dim=1)

    def decode(self, logits: torch.Tensor) -> list[str]:
        """ISO strings of greedy logits (B, Tq, V); the start symbol never wins after training,
        but if it does it shows as '?'."""
        chars = "?" + self.config.output_chars
        return ["".join(chars[i] for i in row) for row in logits.argmax(-1).tolist()]

    @torch.inference_mode()
    def predict(self, texts: list[str], batch_size: int = 512) -> list[str]:
        """Greedy ISO output of many normalized texts (evaluation)."""
        device = next(self.parameters()).device
        out = []
        for i in range(0, len(texts), batch_size):
            ids, lengths = self.batch(texts[i : i + batch_size])
            out += self.decode(self(ids.to(device), lengths))
        return out

    @torch.inference_mode()
    def trace(self, text: str, name: str = "") -> DateTrace:
        """Rewrite one date and keep every decoder step's attention."""
        ids, labels, unknown = self.tokenize(text)
        device = next(self.parameters()).device
        ids_t = torch.tensor([ids], device=device)  # (1, Tk)
        h, s, allowed = self.encode(ids_t, torch.tensor([len(ids)]))
        prev = torch.full((1,), START, dtype=torch.long, device=device)
        chars = "?" + self.config.output_chars
        rows, picked, confidence = [], [], []
        for _ in range(self.config.out_len):
            logits, s, steps = self.step(prev, s, h, allowed)
            prev = logits.argmax(-1)
            rows.append(steps)
            picked.append(chars[int(prev)])
            confidence.append(float(torch.softmax(logits, -1)[0, prev]))

        def stacked(field: str) -> np.ndarray:  # (Tq, ...) from one (1, 1, ...) per step
            return np.concatenate([attention.to_numpy(getattr(r, field)[0]) for r in rows])

        k = attention.to_numpy(h[0])  # (Tk, 2He)
        step = AttentionStep(
            q=stacked("q"),
            k=k,
            v=k,
            scores=stacked("scores"),
            scaled=stacked("scaled"),
            masked=stacked("masked"),
            weights=stacked("weights"),
            context=stacked("context"),
            score=self.config.score,
            scale=rows[0].scale,
            temperature=1.0,
        )
        return DateTrace(
            name, tuple(labels), tuple(picked), step, np.array(confidence), tuple(unknown)
        )


def expected_shapes(config: Seq2SeqConfig) -> dict[str, tuple[int, ...]]:
    """Every key of a checkpoint of this config and its shape."""
    return {key: tuple(value.shape) for key, value in Seq2Seq(config).state_dict().items()}


def load(name: str, folder: Path | None = None) -> Seq2Seq:
    """A dates model on the picked device, in eval mode, read strictly (see safetensors_reader).

    Args:
        folder: read from here instead of models/NAME/ (a recipe's fresh output).
    """
    if folder is None:
        config_path = registry.package_file(name, "config.json")
        weights_path = registry.package_file(name, "model.safetensors")
    else:
        config_path, weights_path = folder / "config.json", folder / "model.safetensors"
    config = trained.as_config(Seq2SeqConfig, json.loads(config_path.read_text("utf-8"))["model"])
    model = Seq2Seq(config)
    model.load_state_dict(read_strict(weights_path, expected_shapes(config)), strict=True)
    return model.to(loading.pick_device()).eval()


READS = "text"


def prepare(request) -> str:
    return request.text  # checked when it is tokenised


def run(model: Seq2Seq, name: str, text: str) -> DateTrace:
    return model.trace(text, name)


def predict(trace: DateTrace):
    return Prediction(trace.prediction, notices=tuple(trace.notices()), unknown=trace.unknown)


def npz_arrays(trace) -> dict[str, np.ndarray]:
    """The .npz arrays of one trace (the page's download and the CLI's `trace`)."""
    return {
        "input_tokens": np.array(trace.input_tokens),
        "output_tokens": np.array(trace.output_tokens),
        "attentions": trace.weights,  # (Tq, Tk), the CLI's key for every model's weights
        "prediction": np.array(trace.prediction),
    }
