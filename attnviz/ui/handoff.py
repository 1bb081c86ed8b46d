"""Projector -> phones: in presentation mode, a QR code of the view on the screen and a short
link that the server resolves, so that students open the same view on their phones.

    row = present.controls()        # app.py, before the page
    handoff.show(row, url_path)     # app.py, after it: the view the page ended on

A short link is `<app>/?go=<code>`: the code is the first 8 hex digits of the SHA-256 of the
view (page and parameters) and this server keeps code -> view in memory while it runs; the start
page opens it (`resolve`). Neither link carries `present`: students get the normal page, with
its sidebar and inputs.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
from urllib.parse import urlsplit

import segno
import streamlit as st

from attnviz.ui import present, state
from attnviz.ui.common import t

CODE = re.compile(r"[0-9a-f]{8}")
_MOST = 10_000  # codes kept; the oldest go first (a lecture needs a few dozen)


@st.cache_resource
def _codes() -> dict[str, tuple[str, dict[str, str]]]:
    """code -> (page url_path, parameters), shared by every session of this server."""
    return {}


def shorten(page: str, params: dict[str, str]) -> str:
    """The code of a view (the same view always gets the same code)."""
    view = (page, {k: v for k, v in params.items() if k != present.KEY})
    code = hashlib.sha256(json.dumps(view, sort_keys=True).encode()).hexdigest()[:8]
    codes = _codes()
    if code not in codes:
        while len(codes) >= _MOST:
            codes.pop(next(iter(codes)))
        codes[code] = view
    return code


def resolve(code: str) -> tuple[str, dict[str, str]] | None:
    """The view of a code made by `shorten` on this server, or None."""
    return _codes().get(code) if CODE.fullmatch(code) else None


def qr_png(text: str) -> bytes:
    buffer = io.BytesIO()
    segno.make(text, error="m").save(buffer, kind="png", scale=8, border=2)
    return buffer.getvalue()


def show(row, page: str) -> None:
    """In presentation mode: a "for students" popover in `row` with the QR code and links."""
    if row is None or not present.active():
        return
    params = {k: st.query_params[k] for k in st.query_params if k != present.KEY}
    parts = urlsplit(st.context.url or "")
    path = parts.path.rstrip("/")
    root = path[: -len(page)].rstrip("/") if page and path.endswith(page) else path
    base = f"{parts.scheme}://{parts.netloc}{root}" if parts.netloc else root
    short = f"{base}/?go={shorten(page, params)}"
    with row.popover(t("hall.students"), icon="📱"):
        st.image(qr_png(short), width=280)
        st.caption(t("hall.students_help"))
        st.code(short, language=None)
        st.code(state.link(), language=None, wrap_lines=True)
