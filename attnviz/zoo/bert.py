"""A post-LN BERT encoder in torch, shared by all-MiniLM-L6-v2 and multilingual-e5-small.

    x = LN(word[ids] + position[0..T-1] + type[token_type_ids])
    for each layer:
        q, k, v = x Wq + bq, x Wk + bk, x Wv + bv           split into H heads of Dh
        context = attention.heads(q, k, v)                  softmax((q/√Dh) kᵀ) v, per head
        x = LN(x + context Wo + bo)
        x = LN(x + GELU(x W1 + b1) W2 + b2)                   GELU with erf, as BERT has it
    embedding = normalise(mean over tokens of x)

multilingual-e5-small is a `BertModel` too (Multilingual-MiniLM with the XLM-R tokenizer): its
positions start at 0 like BERT's (the 4-bit file holds exactly 512 position rows and the engine
indexes them from 0), and every token has type 0.

The forward takes one `text.Encoded` and returns `(embedding, TextTrace)`. Nothing is stored
on the module: one model object serves every user through `st.cache_resource`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from attnviz import attention, loading, opentrace
from attnviz.errors import InputError
from attnviz.loading.e5q4 import dequantize_q4
from attnviz.loading.safetensors_reader import read_strict
from attnviz.text import Encoded, UnigramTokenizer, WordPieceTokenizer
from attnviz.trace import TextTrace
from attnviz.zoo import registry

NAMES = ("minilm", "e5")


@dataclass(frozen=True)
class BertConfig:
    name: str  # our short model name, as in registry.MODELS
    vocab: int  # rows of the word embedding
    width: int  # D
    layers: int  # L
    heads: int  # H
    ffn: int  # width of the feed-forward layer
    positions: int  # rows of the position embedding: the longest input
    types: int  # rows of the token-type embedding
    eps: float = 1e-12  # LayerNorm epsilon

    def __post_init__(self) -> None:
        for name in ("vocab", "width", "layers", "heads", "ffn", "positions", "types"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if self.width % self.heads != 0:
            raise ValueError(f"width {self.width} is not a multiple of heads {self.heads}")
        if not 0 < self.eps < 1e-3:
            raise ValueError(f"eps {self.eps} is not a small positive number")

    @property
    def head_width(self) -> int:  # Dh
        return self.width // self.heads


class Q4Embedding(nn.Module):
    """A word embedding kept in its 4-bit blocks; only the rows of an input are dequantised.

    Dequantising all 250 037 rows of E5's vocabulary would take 384 MB of float32 for the
    handful of rows one sentence uses; the blocks take 54 MB.
    """

    def __init__(self, blocks: np.ndarray, width: int) -> None:
        super().__init__()
        self.blocks = blocks  # (V, D/32, 18) uint8: Q4_0 blocks, see loading.e5q4
        self.width = width

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        rows = self.blocks[ids.cpu().numpy()]  # (T, D/32, 18)
        x = dequantize_q4(rows).reshape(len(rows), self.width)  # (T, D)
        return torch.from_numpy(x).to(device=ids.device, dtype=loading.DTYPE)


class Embeddings(nn.Module):
    def __init__(self, config: BertConfig, word: nn.Module) -> None:
        super().__init__()
        self.word = word
        self.position = loading.table(config.positions, config.width)
        self.token_type = loading.table(config.types, config.width)
        self.ln = nn.LayerNorm(config.width, eps=config.eps)

    def forward(self, ids: torch.Tensor, types: torch.Tensor) -> torch.Tensor:
        positions = torch.arange(len(ids), device=ids.device)  # (T,)
        return self.ln(self.word(ids) + self.token_type(types) + self.position(positions))  # (T, D)


class Layer(nn.Module):
    """One post-LN encoder layer; its attention goes through `attention.heads`."""

    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        d = config.width
        self.config = config
        self.q = nn.Linear(d, d)
        self.k = nn.Linear(d, d)
        self.v = nn.Linear(d, d)
        self.out = nn.Linear(d, d)
        self.ln1 = nn.LayerNorm(d, eps=config.eps)
        self.up = nn.Linear(d, config.ffn)
        self.down = nn.Linear(config.ffn, d)
        self.ln2 = nn.LayerNorm(d, eps=config.eps)

    def forward(self, x: torch.Tensor, allowed: np.ndarray, ablation=None, index: int = 0):
        t, h, dh = x.shape[0], self.config.heads, self.config.head_width
        # contiguous: the trace's numpy arrays come out C-ordered, so a head's slice is packed
        q = self.q(x).view(t, h, dh).transpose(0, 1).contiguous()  # (H, T, Dh)
        k = self.k(x).view(t, h, dh).transpose(0, 1).contiguous()  # (H, T, Dh)
        v = self.v(x).view(t, h, dh).transpose(0, 1).contiguous()  # (H, T, Dh)
        steps = attention.heads(q, k, v, allowed=allowed)
        context = steps.context if ablation is None else ablation.apply(index, steps.context)
        context = context.transpose(0, 1).reshape(t, h * dh)  # (T, D)
        x = self.ln1(x + self.out(context))
        # approximate="none" is the erf GELU that BERT was trained with
        x = self.ln2(x + self.down(F.gelu(self.up(x), approximate="none")))  # (T, D)
        return x, attention.layer_trace(steps, allowed)


class Bert(nn.Module):
    def __init__(self, config: BertConfig, word: nn.Module) -> None:
        super().__init__()
        self.config = config
        self.embed = Embeddings(config, word)
        self.layers = nn.ModuleList(Layer(config) for _ in range(config.layers))

    def forward(self, enc: Encoded, ablation=None) -> tuple[torch.Tensor, TextTrace]:
        """(embedding (D,), TextTrace) of one tokenised input; `ablation` (attnviz.ablation)
        switches heads off before the output projection."""
        t = len(enc.ids)
        if not 0 < t <= self.config.positions:
            raise ValueError(f"{t} tokens; this model reads 1 to {self.config.positions}")
        if int(enc.ids.max()) >= self.config.vocab or int(enc.token_type_ids.max()) >= (
            self.config.types
        ):
            raise ValueError("a token or type id lies outside the embedding tables")
        device = next(self.parameters()).device
        ids = torch.as_tensor(enc.ids, device=device)  # (T,)
        types = torch.as_tensor(enc.token_type_ids, device=device)  # (T,)
        # One sentence (or pair) and no padding: every token may look at every token.
        allowed = np.ones((t, t), dtype=bool)

        x = self.embed(ids, types)  # (T, D)
        hidden = [x]
        layers = []
        for i, layer in enumerate(self.layers):
            x, trace = layer(x, allowed, ablation, i)
            hidden.append(x)
            layers.append(trace)
        # Mean pooling over every token, then unit length: the sentence embedding both
        # sentence-transformers (MiniLM) and the E5 engine compute.
        embedding = F.normalize(x.mean(dim=0), dim=0)  # (D,)
        trace = TextTrace(
            model=self.config.name,
            tokens=enc.tokens,
            layers=tuple(layers),
            hidden=torch.stack(hidden).cpu().numpy(),  # (L+1, T, D)
            special=enc.special,
            ids=enc.ids,
            token_type_ids=enc.token_type_ids,
            segment=enc.segment,
            display=tuple(enc.display),
            word_index=enc.word_index,
            words=tuple(enc.words),
            embedding=embedding.cpu().numpy(),
            dropped_a=enc.dropped_a,
            dropped_b=enc.dropped_b,
            removed=enc.removed,
        )
        return embedding, trace


class TextModel:
    """A tokenizer and its BERT: `trace(text, pair)` is all a page or the CLI needs."""

    def __init__(self, name: str, tokenizer, net: Bert) -> None:
        self.name = name
        self.tokenizer = tokenizer
        self.net = net
        self.config = net.config

    def encode(self, text: str, pair: str | None = None) -> Encoded:
        return self.tokenizer.encode(text, pair)

    def trace(self, text: str, pair: str | None = None) -> TextTrace:
        """Tokenise and run the forward; InputError for bad text (see text.clean)."""
        enc = self.encode(text, pair)
        with torch.inference_mode():
            _, trace = self.net(enc)
        return trace


# Our module names -> a Hugging Face BERT checkpoint's: the embeddings, then one layer's
# (layers.{i}.NAME -> encoder.layer.{i}.HF_LAYER[NAME]); every tensor keeps .weight / .bias.
HF_EMBED = {
    "embed.word": "embeddings.word_embeddings",
    "embed.position": "embeddings.position_embeddings",
    "embed.token_type": "embeddings.token_type_embeddings",
    "embed.ln": "embeddings.LayerNorm",
}
HF_LAYER = {
    "q": "attention.self.query",
    "k": "attention.self.key",
    "v": "attention.self.value",
    "out": "attention.output.dense",
    "ln1": "attention.output.LayerNorm",
    "up": "intermediate.dense",
    "down": "output.dense",
    "ln2": "output.LayerNorm",
}
# BertConfig's fields -> config.json's keys
HF_CONFIG = {
    "vocab": "vocab_size",
    "width": "hidden_size",
    "layers": "num_hidden_layers",
    "heads": "num_attention_heads",
    "ffn": "intermediate_size",
    "positions": "max_position_embeddings",
    "types": "type_vocab_size",
    "eps": "layer_norm_eps",
}
# config.json values that describe the forward above
HF_ARCHITECTURE = {
    "model_type": "bert",
    "hidden_act": "gelu",
    "position_embedding_type": "absolute",
}


def hf_name(ours: str) -> str:
    """The checkpoint's name of one of our tensors: layers.0.q.weight -> encoder.layer.0.
    attention.self.query.weight."""
    module, part = ours.rsplit(".", 1)
    if module.startswith("layers."):
        _, i, name = module.split(".")
        return f"encoder.layer.{i}.{HF_LAYER[name]}.{part}"
    return f"{HF_EMBED[module]}.{part}"


def _load_minilm() -> TextModel:
    hf_path = registry.package_file("minilm", "model/config.json")
    hf = json.loads(hf_path.read_text("utf-8"))
    for key, value in HF_ARCHITECTURE.items():
        if hf.get(key, value) != value:
            raise ValueError(f"{hf_path}: {key} is {hf.get(key)!r}, expected {value!r}")
    config = BertConfig(name="minilm", **{ours: hf[theirs] for ours, theirs in HF_CONFIG.items()})
    with torch.device("meta"):  # shapes only
        shapes = Bert(config, loading.table(config.vocab, config.width)).state_dict()
    shapes = {key: tuple(value.shape) for key, value in shapes.items()}
    d = config.width
    # in a sentence-transformers export, unread: the position_ids buffer (the forward makes
    # the positions) and the pooler (the embedding is a mean)
    unused = {
        "embeddings.position_ids": (1, config.positions),
        "pooler.dense.weight": (d, d),
        "pooler.dense.bias": (d,),
    }
    path = registry.package_file("minilm", "model/model.safetensors")
    tensors = read_strict(path, {hf_name(key): shape for key, shape in shapes.items()}, unused)
    state = {key: tensors[hf_name(key)] for key in shapes}
    net = loading.assemble(lambda: Bert(config, loading.table(config.vocab, config.width)), state)
    tokenizer = WordPieceTokenizer(registry.package_file("minilm", "model/tokenizer.json"))
    if tokenizer.vocab_size != config.vocab:
        raise ValueError("tokenizer.json and config.json disagree on the vocabulary size")
    return TextModel("minilm", tokenizer, net.to(loading.pick_device()).eval())


# e5-small-q4.bin tensor names -> ours, for one layer (prefix l{i}.)
_E5_LAYER_KEYS = {
    "q": "q",
    "k": "k",
    "v": "v",
    "ao": "out",
    "aln": "ln1",
    "fi": "up",
    "fo": "down",
    "oln": "ln2",
}


def _load_e5() -> TextModel:
    from attnviz.loading.e5q4 import read_e5

    f = read_e5(registry.package_file("e5", "e5-small-q4.bin"))
    h = f.header
    config = BertConfig(name="e5", **{key: getattr(h, key) for key in HF_CONFIG})  # same names

    def tensor(name: str) -> torch.Tensor:
        return torch.from_numpy(f.dense(name))

    state = {
        "embed.position.weight": tensor("emb.pos"),
        "embed.token_type.weight": tensor("emb.type"),
        "embed.ln.weight": tensor("emb.ln.w"),
        "embed.ln.bias": tensor("emb.ln.b"),
    }
    for i in range(config.layers):
        for theirs, ours in _E5_LAYER_KEYS.items():
            state[f"layers.{i}.{ours}.weight"] = tensor(f"l{i}.{theirs}.w")
            state[f"layers.{i}.{ours}.bias"] = tensor(f"l{i}.{theirs}.b")
    blocks = f.blocks("emb.word")
    net = loading.assemble(lambda: Bert(config, Q4Embedding(blocks, config.width)), state)
    tokenizer = UnigramTokenizer(f.pieces, f.scores, f.norm, bos=f.bos, eos=f.eos, unk=f.unk)
    return TextModel("e5", tokenizer, net.to(loading.pick_device()).eval())


def load(name: str) -> TextModel:
    """The text model `name` ("minilm" | "e5"); raises registry.ModelMissing if not installed."""
    if name == "minilm":
        return _load_minilm()
    if name == "e5":
        return _load_e5()
    raise InputError("error.text_unknown_model", name=name, names=", ".join(NAMES))


READS = "text"


def prepare(request) -> tuple[str, str | None]:
    """(text, pair) of a registry.Request; the text is checked when it is tokenised."""
    return request.text, request.pair


def run(model: TextModel, name: str, value: tuple[str, str | None]) -> TextTrace:
    return model.trace(*value)


def npz_arrays(trace: TextTrace) -> dict[str, np.ndarray]:
    """A text trace as the CLI's .npz keys (the page's "whole trace" download too): an open
    trace (attnviz/opentrace.py) with the token ids and types besides."""
    return {
        "version": np.array(opentrace.VERSION),
        "model": np.array(trace.model),
        "ids": np.asarray(trace.ids, dtype=np.int64),  # (T,)
        "tokens": np.array(trace.tokens, dtype=str),  # (T,)
        "token_type_ids": np.asarray(trace.token_type_ids, dtype=np.int64),  # (T,)
        "attentions": trace.attentions.astype(np.float32),  # (L, H, T, T)
    }
