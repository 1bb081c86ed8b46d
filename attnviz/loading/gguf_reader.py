"""A LLaMA-style GGUF file (SmolLM2-135M-Instruct, 4-bit) read with the `gguf` package.

Every tensor's name and shape is checked against what the metadata promises before anything is
dequantised, and the byte-level BPE tokenizer is rebuilt with `tokenizers` from the metadata:
vocabulary, merges, the "smollm" pre-tokenizer (every digit on its own, then GPT-2's regex, as
llama.cpp's LLAMA_VOCAB_PRE_TYPE_SMOLLM), control tokens and the chat template.

GGUF stores the q and k projections of a LLaMA model with the rows of each head permuted so that
RoPE rotates *adjacent* pairs (2i, 2i+1) — llama.cpp's "normal" RoPE — instead of the two halves
Hugging Face rotates. We keep the file's layout and rotate adjacent pairs (see zoo/llama.py);
attention scores are the same either way, since q and k are permuted alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers

if TYPE_CHECKING:
    from gguf import GGUFReader

CONTROL = 3  # tokenizer.ggml.token_type of a control token (<|im_start|> ...)


@dataclass(frozen=True)
class LlamaHeader:
    """The hyperparameters in a GGUF's `llama.*` metadata."""

    vocab: int
    width: int  # D
    layers: int  # L
    heads: int  # H, query heads
    kv_heads: int  # key/value heads, shared by H / kv_heads query heads each
    ffn: int
    context: int  # positions the model was trained on
    rope_base: float
    rope_dims: int
    eps: float  # RMSNorm epsilon


@dataclass(frozen=True, eq=False)
class GGUFModel:
    """What a LLaMA GGUF holds: hyperparameters, float32 tensors and the tokenizer's parts."""

    header: LlamaHeader
    tensors: dict[str, np.ndarray]  # name -> float32 array in numpy (row-major) order
    tokens: list[str]  # (V,) byte-level pieces
    token_types: np.ndarray  # (V,) int
    merges: list[str]  # "a b"
    bos: int
    eos: int
    pre: str  # tokenizer.ggml.pre
    chat_template: str


def _field(reader: GGUFReader, key: str):
    field = reader.fields.get(key)
    if field is None:
        raise ValueError(f"GGUF metadata lacks {key}")
    return field.contents()


def expected_shapes(h: LlamaHeader) -> dict[str, tuple[int, ...]]:
    """Every tensor a LLaMA GGUF with tied embeddings must hold, in numpy order (out, in)."""
    dh = h.width // h.heads
    shapes = {"token_embd.weight": (h.vocab, h.width), "output_norm.weight": (h.width,)}
    for i in range(h.layers):
        shapes |= {
            f"blk.{i}.attn_norm.weight": (h.width,),
            f"blk.{i}.attn_q.weight": (h.heads * dh, h.width),
            f"blk.{i}.attn_k.weight": (h.kv_heads * dh, h.width),
            f"blk.{i}.attn_v.weight": (h.kv_heads * dh, h.width),
            f"blk.{i}.attn_output.weight": (h.width, h.heads * dh),
            f"blk.{i}.ffn_norm.weight": (h.width,),
            f"blk.{i}.ffn_gate.weight": (h.ffn, h.width),
            f"blk.{i}.ffn_up.weight": (h.ffn, h.width),
            f"blk.{i}.ffn_down.weight": (h.width, h.ffn),
        }
    return shapes


def read_llama(path: Path) -> GGUFModel:
    """Read and check a LLaMA GGUF; ValueError names the first thing that does not fit."""
    # imported here: `gguf` takes 0.5 s to import, and zoo/llama.py imports this module
    from gguf import GGUFReader
    from gguf.quants import dequantize

    reader = GGUFReader(path)
    if _field(reader, "general.architecture") != "llama":
        raise ValueError("not a llama GGUF")
    header = LlamaHeader(
        vocab=int(_field(reader, "llama.vocab_size")),
        width=int(_field(reader, "llama.embedding_length")),
        layers=int(_field(reader, "llama.block_count")),
        heads=int(_field(reader, "llama.attention.head_count")),
        kv_heads=int(_field(reader, "llama.attention.head_count_kv")),
        ffn=int(_field(reader, "llama.feed_forward_length")),
        context=int(_field(reader, "llama.context_length")),
        rope_base=float(_field(reader, "llama.rope.freq_base")),
        rope_dims=int(_field(reader, "llama.rope.dimension_count")),
        eps=float(_field(reader, "llama.attention.layer_norm_rms_epsilon")),
    )
    expected = expected_shapes(header)
    found = {t.name: t for t in reader.tensors}
    if set(found) != set(expected):
        missing, extra = sorted(set(expected) - set(found)), sorted(set(found) - set(expected))
        raise ValueError(f"GGUF tensors differ: missing {missing[:5]}, unexpected {extra[:5]}")
    tensors = {}
    for name, shape in expected.items():
        info = found[name]
        # GGUF lists dimensions innermost first; numpy wants them outermost first.
        if tuple(int(n) for n in reversed(info.shape)) != shape:
            raise ValueError(f"{name} has shape {tuple(reversed(info.shape))}, expected {shape}")
        array = dequantize(info.data, info.tensor_type).reshape(shape).astype(np.float32)
        if not np.isfinite(array).all():
            raise ValueError(f"{name} holds NaN or infinity")
        tensors[name] = array
    tokens = list(_field(reader, "tokenizer.ggml.tokens"))
    if len(tokens) != header.vocab:
        raise ValueError(f"{len(tokens)} tokens for a vocabulary of {header.vocab}")
    return GGUFModel(
        header=header,
        tensors=tensors,
        tokens=tokens,
        token_types=np.asarray(_field(reader, "tokenizer.ggml.token_type"), dtype=np.int32),
        merges=list(_field(reader, "tokenizer.ggml.merges")),
        bos=int(_field(reader, "tokenizer.ggml.bos_token_id")),
        eos=int(_field(reader, "tokenizer.ggml.eos_token_id")),
        pre=str(_field(reader, "tokenizer.ggml.pre")),
        chat_template=str(_field(reader, "tokenizer.chat_template")),
    )


def build_tokenizer(model: GGUFModel) -> Tokenizer:
    """The byte-level BPE tokenizer of the GGUF, as a `tokenizers.Tokenizer`."""
    if model.pre != "smollm":
        raise ValueError(f"pre-tokenizer {model.pre!r} is not supported (only 'smollm')")
    vocab = {token: i for i, token in enumerate(model.tokens)}
    merges = [tuple(merge.split(" ", 1)) for merge in model.merges]
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, fuse_unk=False))
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(r"\p{N}"), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens(
        [
            AddedToken(token, special=True, normalized=False)
            for token, kind in zip(model.tokens, model.token_types, strict=True)
            if kind == CONTROL
        ]
    )
    return tok
