"""The landing page: what attnviz shows and a link to each page."""

import streamlit as st

from attnviz.ui.common import t

PAGES = ("examples", "playground", "text", "image", "generate")
ICONS = {"examples": "📖", "playground": "🧮", "text": "🔤", "image": "🖼️", "generate": "✍️"}

st.title(t("home.title"))
st.markdown(t("home.intro"))
st.latex(r"\mathrm{context} = \mathrm{softmax}\!\left(\frac{q\,k^\top}{\sqrt{d_k}}\right) v")
for column, name in zip(st.columns(len(PAGES)), PAGES, strict=True):
    with column, st.container(border=True):
        st.page_link(f"attnviz/ui/pages/{name}.py", label=t(f"nav.{name}"), icon=ICONS[name])
        st.caption(t(f"home.about_{name}"))
