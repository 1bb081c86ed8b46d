"""The pages under hostile input (AppTest): an unexpected error on any page, bidi controls,
oversized text, a matrix typed where a vector is asked, pair truncation, odd uploads."""

from __future__ import annotations

import io
import logging
import tomllib
from pathlib import Path

import conftest
import pytest
import streamlit as st
from conftest import open_app
from PIL import Image
from streamlit.testing.v1 import AppTest

from attnviz import matrices, text
from attnviz.errors import InputError
from attnviz.i18n import LANGS, t
from attnviz.zoo import registry

ROOT = Path(__file__).resolve().parent.parent
PAGES = ("home", *conftest.PAGES)
needs = {
    name: pytest.mark.skipif(not registry.installed(name), reason=f"{name} is not installed")
    for name in registry.MODELS
}


def open_page(page: str, lang: str = "en") -> AppTest:
    return open_app(page, lang)


def test_no_traceback_reaches_a_browser():
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["client"]["showErrorDetails"] == "none"


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("page", PAGES)
def test_an_unexpected_error_on_any_page_is_one_line_with_a_logged_id(
    page, lang, monkeypatch, caplog
):
    """Fault injection: st.title, which every page calls, breaks. The last-resort handler in
    app.py shows one line in the user's language; the traceback is logged under its id."""

    def broken(*args, **kwargs):
        raise RuntimeError("injected fault")

    monkeypatch.setattr(st, "title", broken)
    with caplog.at_level(logging.ERROR, logger="attnviz"):
        at = open_page(page, lang)
    assert not at.exception, [e.message for e in at.exception]
    record = [r for r in caplog.records if r.name == "attnviz"][-1]  # the page switched to
    ident = record.getMessage().split()[1].rstrip(":")  # "incident 1a2b3c4d: unexpected ..."
    assert [e.value for e in at.error] == [t("error.unexpected", lang, id=ident)]
    assert "injected fault" in str(record.exc_info[1])


def test_visible_shows_invisible_format_characters_as_code_points():
    assert text.visible("\u202edef") == "⟨U+202E⟩def"
    assert text.visible("a\u200bb\u2067c\ufeff") == "a⟨U+200B⟩b⟨U+2067⟩c⟨U+FEFF⟩"
    assert text.visible("עברית 中文 👩‍👩‍👧") == "עברית 中文 👩‍👩‍👧"  # scripts and emoji (ZWJ) stay


@needs["e5"]
def test_a_bidi_override_cannot_reverse_the_token_line():
    at = open_page("text")
    at.text_area(key="text_a").input("abc \u202edef ghi \u2067x").run()
    at.radio(key="text_model_minilm").set_value("e5").run()
    assert not at.exception and not at.error
    line = "\n".join(str(e.value) for e in at.text)
    assert "⟨U+202E⟩" in line  # (U+2067 is an <unk> piece in the token line)
    for control in ("\u202e", "\u2067"):
        assert control not in line
        assert all(control not in str(o) for box in at.selectbox for o in box.options)


@needs["minilm"]
def test_text_areas_have_max_chars():
    at = open_page("text")
    assert at.text_area(key="text_a").proto.max_chars == text.MAX_CHARS
    assert at.text_area(key="text_b").proto.max_chars == text.MAX_CHARS
    at = open_page("playground")
    at.toggle(key="mode_text").set_value(True).run()
    for name in ("q", "k", "v"):
        assert at.text_area(key=f"{name}_text").proto.max_chars == matrices.MAX_CHARS


def test_a_crafted_client_past_max_chars_gets_a_message():
    with pytest.raises(InputError) as err:
        matrices.parse_matrix("1 " * matrices.MAX_CHARS, "q")
    assert err.value.key == "error.text_too_long"


@pytest.mark.parametrize("lang", LANGS)
def test_a_matrix_typed_where_a_vector_is_asked_is_refused(lang):
    at = open_page("playground", lang)
    at.toggle(key="mode_text").set_value(True).run()
    at.selectbox(key="score").set_value("linear").run()
    box = next(a for a in at.text_area if a.key.startswith("param_linear_w_"))
    box.input("1 2\n3 4").run()
    assert not at.exception
    assert [e.value for e in at.error] == [t("error.not_vector", lang, name="w", rows=2, cols=2)]
    box = next(a for a in at.text_area if a.key.startswith("param_linear_w_"))
    box.input("1 2 3 4").run()  # the same numbers on one line: accepted
    assert not at.exception and not at.error


def test_pair_truncation_counts_each_sentence():
    many = list(range(600))
    assert text.truncate(many, [1] * 10, 509)[2:] == (101, 0)
    assert text.truncate([1] * 10, many, 509)[2:] == (0, 101)
    assert text.truncate(list(range(400)), list(range(300)), 509)[2:] == (146, 45)
    assert text.truncate(many, None, 510)[2:] == (90, 0)


@needs["minilm"]
@pytest.mark.parametrize(
    ("a", "b", "key", "params"),
    [
        (600, 10, "text.truncated_a", {"dropped": 101}),
        (10, 600, "text.truncated_b", {"dropped": 101}),
        (400, 300, "text.truncated_both", {"a": 146, "b": 45}),
    ],
)
def test_the_pair_truncation_message_names_the_sentence_cut(a, b, key, params):
    at = open_page("text")
    at.text_area(key="text_a").input("word " * a)
    at.text_area(key="text_b").input("cat " * b)
    at.run()
    assert not at.exception and not at.error
    assert [w.value for w in at.warning] == [t(key, "en", **params)]


def png(size=(64, 48)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (0, 128, 255)).save(buffer, "PNG")
    return buffer.getvalue()


@needs["dinov2"]
@pytest.mark.parametrize("lang", LANGS)
def test_uploads_are_judged_by_content_with_our_message(lang):
    """Streamlit's own check of the file's name would refuse these in English."""
    at = open_page("image", lang)
    at.radio(key="image_source").set_value("upload").run()
    at.file_uploader(key="image_upload").set_value(("notes.txt", b"plain text", "text/plain"))
    at.run()
    assert not at.exception
    formats = "PNG, JPEG, WEBP, GIF, BMP, TIFF"
    assert [e.value for e in at.error] == [t("error.image_not_image", lang, formats=formats)]
    at.file_uploader(key="image_upload").set_value(("photo.data", png(), "application/x-foo"))
    at.run()
    assert not at.exception and not at.error


@needs["dinov2"]
def test_a_truncated_animated_gif_gives_a_message_on_the_image_page():
    """Cut inside a later frame: Pillow failed in `is_animated`, outside the guarded decode."""
    from test_hostile import animated_gif  # tests/ is on sys.path (pytest's prepend mode)

    from attnviz import images

    data = animated_gif()
    cuts = []
    for end in range(len(data) // 3, len(data)):
        try:
            images.decode(data[:end])
        except InputError as err:
            cuts.append((end, err.key))
    at = open_page("image", "zh")
    at.radio(key="image_source").set_value("upload").run()
    for end, key in cuts[:3]:
        at.file_uploader(key="image_upload").set_value(("cut.gif", data[:end], "image/gif")).run()
        assert not at.exception, end
        assert [e.value for e in at.error] == [t(key, "zh")]
