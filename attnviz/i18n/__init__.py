"""The UI's words in English and Chinese.

Catalogs are TOML files, one per area and language: `en/<area>.toml` and `zh/<area>.toml`.
Nested tables flatten to dotted keys (`[nav] examples = ...` is `nav.examples`). A key may be
defined in only one area. Messages use `str.format` fields: `t("error.kv_rows", "en", k=3, v=2)`.
"""

from __future__ import annotations

import tomllib
from functools import cache
from importlib import resources

LANGS = ("en", "zh")


def _flatten(table: dict, prefix: str = "") -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in table.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_flatten(value, f"{name}."))
        else:
            out[name] = str(value)
    return out


@cache
def catalog(lang: str) -> dict[str, str]:
    """Every key of one language, merged from its area files; read once, on first use."""
    if lang not in LANGS:
        raise KeyError(f"unknown language {lang!r}")
    merged: dict[str, str] = {}
    folder = resources.files(__package__) / lang
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".toml"):
            continue
        for key, value in _flatten(tomllib.loads(entry.read_text("utf-8"))).items():
            if key in merged:
                raise KeyError(f"{lang}: key {key!r} defined twice (again in {entry.name})")
            merged[key] = value
    return merged


def t(key: str, lang: str, **params: object) -> str:
    """The message for `key` in `lang`, with `params` filled in."""
    text = catalog(lang)[key]
    return text.format(**params) if params else text


def pick_lang(query_lang: str | None, accept_language: str | None) -> str:
    """The URL's `lang` if it names a language we have, else the browser's first match, else en."""
    if query_lang in LANGS:
        return query_lang
    for part in (accept_language or "").split(","):
        code = part.split(";")[0].strip().lower()[:2]
        if code in LANGS:
            return code
    return "en"
