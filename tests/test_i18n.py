"""Both catalogs have the same keys and the same message fields; the language pick works."""

import string

import pytest

from attnviz.i18n import LANGS, catalog, pick_lang


def fields(text):
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_catalogs_have_the_same_keys():
    en, zh = catalog("en"), catalog("zh")
    assert sorted(set(en) - set(zh)) == [], "keys missing from the Chinese catalog"
    assert sorted(set(zh) - set(en)) == [], "keys missing from the English catalog"


def test_messages_have_the_same_fields_and_no_empty_text():
    en, zh = catalog("en"), catalog("zh")
    for key in en:
        assert en[key].strip() and zh[key].strip(), key
        assert fields(en[key]) == fields(zh[key]), key


def test_chinese_catalog_is_chinese():
    zh = catalog("zh")
    has_cjk = [key for key, text in zh.items() if any("\u4e00" <= ch <= "\u9fff" for ch in text)]
    # Formulas and names may be the same in both languages, but most messages must be translated.
    assert len(has_cjk) > 0.8 * len(zh)


@pytest.mark.parametrize(
    ("query", "accept", "expected"),
    [
        ("zh", "en-US", "zh"),
        ("en", "zh-CN", "en"),
        (None, "zh-CN,zh;q=0.9,en;q=0.8", "zh"),
        (None, "fr-FR,en;q=0.5", "en"),
        ("xx", None, "en"),
        (None, None, "en"),
    ],
)
def test_pick_lang(query, accept, expected):
    assert pick_lang(query, accept) == expected
    assert expected in LANGS
