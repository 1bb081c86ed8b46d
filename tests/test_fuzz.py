"""Fuzzing (Hypothesis) and the hostile corpus: whatever text or bytes arrive, the text pipeline
of both models and the image decoder give a trace (a photo) or an InputError, never anything
else, and within a time bound (Hypothesis `deadline`, generous: the bound catches hangs and
blow-ups, not slowness on a busy machine)."""

from __future__ import annotations

import io
import json
import unicodedata
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from attnviz import images
from attnviz.errors import InputError
from attnviz.text import MAX_CHARS, MAX_TOKENS
from attnviz.zoo import registry

HOSTILE = Path(__file__).resolve().parent / "hostile"
ASSETS = Path(__file__).resolve().parent.parent / "assets" / "images"
CORPUS = json.loads((HOSTILE / "texts.json").read_text())
FUZZ = settings(
    deadline=timedelta(seconds=30),
    database=None,  # nothing written into the repository
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
TEXT_MODELS = [
    pytest.param(name, marks=pytest.mark.skipif(not registry.installed(name), reason="missing"))
    for name in ("minilm", "e5")
]


@pytest.fixture(scope="module", params=TEXT_MODELS)
def model(request):
    from attnviz.zoo import bert

    return bert.load(request.param)


def justified(text: str, pair: str | None) -> set[str]:
    """The refusals an input warrants, worked out from the rules (not from the code under test):
    too long; nothing left but spaces once control characters and lone surrogates are removed;
    no letter, number, punctuation or symbol to make a token of."""
    keys = set()
    for value, empty in ((text, "error.text_empty"), (pair or None, "error.pair_empty")):
        if value is None:
            continue
        if len(value) > MAX_CHARS:
            keys.add("error.text_too_long")
        kept = "".join(
            ch for ch in value if ch in "\t\n\r" or unicodedata.category(ch) not in ("Cc", "Cs")
        )
        if not kept.strip():
            keys.add(empty)
        if not any(unicodedata.category(ch)[0] in "LNPS" for ch in kept):
            keys.add("error.text_no_tokens")
    return keys


def check_text(model, text: str, pair: str | None = None) -> None:
    """A valid trace of at most 512 tokens, or an InputError that the input warrants."""
    try:
        trace = model.trace(text, pair)
    except InputError as err:
        assert err.key in justified(text, pair), f"valid input refused with {err.key}"
        return
    t = len(trace.tokens)
    assert 2 <= t <= MAX_TOKENS
    for layer in trace.layers:
        assert layer.weights.shape[-2:] == (t, t)
        assert np.isfinite(layer.weights).all()
        assert np.allclose(layer.weights.sum(axis=-1), 1.0, atol=1e-4)


def test_the_check_fails_when_valid_input_is_refused():
    """A model that refuses everything passes only on input that deserves the refusal."""

    class Refuses:
        def trace(self, text, pair=None):
            raise InputError("error.text_empty")

    with pytest.raises(AssertionError, match="valid input refused"):
        check_text(Refuses(), "The cat sat.")
    with pytest.raises(AssertionError, match="valid input refused"):
        check_text(Refuses(), "The cat sat.", "It was tired.")
    check_text(Refuses(), " \x00\t ")  # nothing but spaces and a control character


def unfold(entry: list) -> str:
    unit, times = entry
    return unit * times


@pytest.mark.parametrize("name", sorted(CORPUS["texts"]))
def test_hostile_text_corpus(model, name):
    check_text(model, unfold(CORPUS["texts"][name]))


@pytest.mark.parametrize("name", sorted(CORPUS["pairs"]))
def test_hostile_pair_corpus(model, name):
    a, b = CORPUS["pairs"][name]
    check_text(model, unfold(a), unfold(b))


# Every Unicode category, with lone surrogates (Hypothesis leaves Cs out of text by default, and
# merges character strategies inside st.text, so they are drawn as integers) and bidi and
# zero-width controls mixed in.
CONTROLS = st.sampled_from(
    list("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200b\u200c\u200d\u200e\u200f")
    + list("\u2060\ufeff\u061c\x00\x1b\x85\r\n\t ")
)
ANY_CHARACTER = st.one_of(
    st.characters(exclude_categories=()), CONTROLS, st.integers(0xD800, 0xDFFF).map(chr)
)


def characters(min_size: int, max_size: int) -> st.SearchStrategy[str]:
    return st.lists(ANY_CHARACTER, min_size=min_size, max_size=max_size).map("".join)


PIECE = characters(1, 40)


@st.composite
def hostile_text(draw) -> str:
    """0 to 100 000 characters: a random piece repeated to a random length (long texts cost
    nothing to build), or random characters outright."""
    if draw(st.booleans()):
        return draw(characters(0, 300))
    piece, size = draw(PIECE), draw(st.integers(0, 100_000))
    return (piece * (size // len(piece) + 1))[:size]


@settings(FUZZ, max_examples=12)
@given(text=hostile_text(), pair=st.one_of(st.none(), hostile_text()))
def test_fuzz_text_pipeline(model, text, pair):
    check_text(model, text, pair)


def test_the_fuzzer_reaches_every_length_and_the_surrogates():
    """The strategy is not too tame: long texts and lone surrogates do come out of it."""
    seen = []

    @settings(max_examples=200, database=None)
    @given(hostile_text())
    def collect(text):
        seen.append(text)

    collect()
    assert any(len(s) > MAX_CHARS for s in seen) and any(len(s) <= 300 for s in seen)
    assert any(any("\ud800" <= ch <= "\udfff" for ch in s) for s in seen)


def seeds() -> list[bytes]:
    """Real photos (assets/images) and small files of every accepted format to mutate."""
    out = [path.read_bytes() for path in sorted(ASSETS.glob("*.jpg"))]
    picture = Image.radial_gradient("L").resize((48, 32)).convert("RGB")
    for fmt, image, options in (
        ("PNG", picture, {}),
        ("PNG", picture.convert("RGBA"), {"optimize": True}),
        ("GIF", picture.convert("P"), {"save_all": True, "append_images": [picture] * 2}),
        ("WEBP", picture, {"lossless": True}),
        ("TIFF", picture, {"compression": "tiff_deflate"}),
        ("BMP", picture, {}),
        ("JPEG", picture, {"progressive": True}),
    ):
        buffer = io.BytesIO()
        image.save(buffer, fmt, **options)
        out.append(buffer.getvalue())
    return out


SEEDS = seeds()


@st.composite
def mutated_image(draw) -> bytes:
    """A seed file with bytes overwritten, cut, inserted or spliced from another seed."""
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 8))):
        kind = draw(st.sampled_from(["flip", "cut", "insert", "splice"]))
        at = draw(st.integers(0, len(data)))
        if kind == "flip" and at < len(data):
            data[at] = draw(st.integers(0, 255))
        elif kind == "cut":
            data = data[:at] + data[at + draw(st.integers(1, 4096)) :]
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=64))
        else:
            other = draw(st.sampled_from(SEEDS))
            data = data[:at] + other[draw(st.integers(0, len(other))) :]
    return bytes(data)


def check_image(data: bytes) -> None:
    """A photo the model can take, or an InputError."""
    try:
        photo = images.decode(data)
    except InputError as err:
        assert err.key.startswith("error.image_")
        return
    assert photo.mode == "RGB"
    assert min(photo.size) >= images.MIN_SIDE and max(photo.size) <= images.DISPLAY_MAX


@settings(FUZZ, max_examples=150)
@given(data=st.binary(max_size=4096))
def test_fuzz_random_bytes(data):
    check_image(data)


@settings(FUZZ, max_examples=150)
@given(data=mutated_image())
def test_fuzz_mutated_images(data):
    check_image(data)


@pytest.mark.parametrize("end", [8, 16, 33, 57, 100, 500])
def test_every_seed_cut_short(end):
    for seed in SEEDS:
        check_image(seed[:end])
        check_image(seed[: len(seed) - end])
