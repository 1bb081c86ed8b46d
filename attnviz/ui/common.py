"""Streamlit helpers shared by every page: the current language and errors."""

from __future__ import annotations

import streamlit as st

from attnviz import i18n
from attnviz.errors import InputError, incident


def lang() -> str:
    """The current UI language; app.py sets it before any page runs."""
    return st.session_state.get("lang", "en")


def t(key: str, **params: object) -> str:
    return i18n.t(key, lang(), **params)


def labeler(prefix: str):
    """A widget's format_func: option -> catalog text of `prefix + option` in today's language.

    The language is read now, not when the label is drawn: AppTest calls format_func outside the
    script run, where session state is not available.
    """
    current = lang()
    return lambda option: i18n.t(f"{prefix}{option}", current)


def show_error(exc: Exception) -> None:
    """A clear message in the user's language instead of a traceback."""
    from attnviz.zoo.registry import ModelMissing

    if isinstance(exc, InputError):
        st.error(t(exc.key, **exc.params), icon="⚠️")
    elif isinstance(exc, ModelMissing):
        st.warning(t("model.missing", name=exc.name), icon="📦")
        st.code(exc.install, language="bash")
    else:
        raise exc


def show_unexpected(exc: Exception) -> None:
    """The last resort: one line in the user's language with an incident id; the traceback goes
    to the server's log under the same id (errors.incident), never to the browser."""
    st.error(t("error.unexpected", id=incident(exc)), icon="🛑")
