"""The landing page: what attnviz shows and a link to each page."""

from pathlib import Path

import streamlit as st

from attnviz.ui.common import t

PAGES = ("examples", "playground", "text", "image", "generate")
ICONS = {"examples": "📖", "playground": "🧮", "text": "🔤", "image": "🖼️", "generate": "✍️"}

st.title(t("home.title"))
st.markdown(t("home.intro"))
st.latex(r"\mathrm{context} = \mathrm{softmax}\!\left(\frac{q\,k^\top}{\sqrt{d_k}}\right) v")
for column, name in zip(st.columns(len(PAGES)), PAGES, strict=True):
    with column, st.container(border=True):
        # beside this file: an installed app runs from attnviz/entry/app.py, not the repository
        st.page_link(Path(__file__).parent / f"{name}.py", label=t(f"nav.{name}"), icon=ICONS[name])
        st.caption(t(f"home.about_{name}"))
