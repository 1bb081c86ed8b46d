"""Byte-level BPE text for the decoder (SmolLM2): encode, decode, readable tokens, chat prompts.

A byte-level token is a run of UTF-8 *bytes*, so one Chinese character (3 bytes) or emoji
(4 bytes) may be split over several tokens, none of which is text on its own. Such a token is
shown with its bytes in hex, `<0xE5>`, and the token that completes a character also shows it:
`<0xA5><0xBD>→好`. Decoding the whole id sequence gives the text back exactly.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from functools import cache

import numpy as np
from jinja2.sandbox import ImmutableSandboxedEnvironment
from tokenizers import Tokenizer

from attnviz.errors import InputError
from attnviz.text import clean

MAX_CHARS = 4_000  # far above MAX_PROMPT tokens of any script; longer text gets a message


@cache
def byte_of_char() -> dict[str, int]:
    """GPT-2's byte-level alphabet: the printable stand-in character of each of the 256 bytes."""
    printable = [*range(ord("!"), ord("~") + 1), *range(0xA1, 0xAC + 1), *range(0xAE, 0xFF + 1)]
    chars = {b: chr(b) for b in printable}
    extra = 0
    for b in range(256):
        if b not in chars:
            chars[b] = chr(256 + extra)
            extra += 1
    return {c: b for b, c in chars.items()}


def _char_length(lead: int) -> int:
    """How many bytes the UTF-8 character starting with byte `lead` has (0: not a lead byte)."""
    if lead < 0x80:
        return 1
    for length, prefix in ((2, 0xC0), (3, 0xE0), (4, 0xF0)):
        if lead >> (7 - length) == prefix >> (7 - length):
            return length
    return 0


def _open_tail(data: bytes) -> bytes:
    """The bytes at the end of `data` that start a character and do not finish it."""
    for back in range(1, min(3, len(data)) + 1):
        length = _char_length(data[-back])
        if length:
            return data[-back:] if length > back else b""
    return b""


def _readable(data: bytes, pending: bytes) -> tuple[str, bytes]:
    """The label of one token's bytes, and the bytes of a character still left open after it.

    Valid UTF-8 runs read as text, other bytes as <0xXX>. When the open bytes of earlier tokens
    (`pending`) are completed by this token's first bytes, the label ends with "→" and the
    character they make together.
    """
    label, i = [], 0
    while i < len(data):
        for j in range(len(data), i, -1):  # the longest valid UTF-8 run starting at i
            try:
                label.append(data[i:j].decode("utf-8"))
                i = j
                break
            except UnicodeDecodeError:
                continue
        else:
            label.append(f"<0x{data[i]:02X}>")
            i += 1
    joined = pending + data
    if pending:
        length = _char_length(pending[0])
        if len(pending) < length <= len(joined):
            with contextlib.suppress(UnicodeDecodeError):
                label.append("→" + joined[:length].decode("utf-8"))
    return "".join(label), _open_tail(joined)


@dataclass(frozen=True, eq=False)
class ByteBPE:
    """The GGUF's tokenizer and what the page needs around it."""

    tok: Tokenizer
    chat_template: str
    bos: int
    eos: int
    special: frozenset[int]  # control tokens (<|im_start|> ...)

    def encode(self, text: str) -> np.ndarray:
        """(T,) int64 ids; control tokens written in the text become their single ids."""
        return np.asarray(self.tok.encode(text, add_special_tokens=False).ids, dtype=np.int64)

    def decode(self, ids) -> str:
        return self.tok.decode([int(i) for i in ids], skip_special_tokens=False)

    def token_bytes(self, token_id: int) -> bytes:
        """The raw bytes of one token (a control token: its text)."""
        piece = self.tok.id_to_token(int(token_id))
        if int(token_id) in self.special:
            return piece.encode("utf-8")
        table = byte_of_char()
        return bytes(table[c] for c in piece)

    def labels(self, ids) -> tuple[str, ...]:
        """One readable label per token: text, or <0xXX> bytes of a split character."""
        out, pending = [], b""
        for token_id in ids:
            label, pending = _readable(self.token_bytes(int(token_id)), pending)
            out.append(label.replace("\n", "↵"))
        return tuple(out)

    def chat(self, message: str) -> str:
        """The prompt of one user message in the model's own chat template (from the GGUF)."""
        env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
        template = env.from_string(self.chat_template)
        return template.render(
            messages=[{"role": "user", "content": message}], add_generation_prompt=True
        )


def clean_prompt(text: str | None) -> str:
    """The prompt as typed, without the control characters and lone surrogates the other text
    inputs drop too (a surrogate is no character: the tokenizer refuses the whole string);
    InputError when there is nothing to continue or far too much."""
    if text is None or not isinstance(text, str) or not text.strip():
        raise InputError("error.generate_empty")
    if len(text) > MAX_CHARS:
        raise InputError("error.generate_too_long_chars", got=len(text), limit=MAX_CHARS)
    return clean(text, key="error.generate_empty")[0]
