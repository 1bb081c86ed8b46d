"""The start page: what attnviz shows, a suggested path for a first lecture, and a card with a
preview for every page. It also opens the short links of presentation mode (ui/handoff.py)."""

from pathlib import Path

import streamlit as st

from attnviz.ui import handoff, previews
from attnviz.ui.common import t

PAGES = (
    "examples", "playground", "text", "image", "seq2seq", "sentiment", "digits",
    "generate", "heads", "open",
)  # fmt: skip
PER_ROW = 4
# Pages beside this file: an installed app runs from inside the package, not the repository.
HERE = Path(__file__).parent

code = st.query_params.get("go")
if code is not None:
    target = handoff.resolve(code)
    if target is not None:
        page, params = target
        st.switch_page(HERE / f"{page or 'home'}.py", query_params=params)
    del st.query_params["go"]
    st.warning(t("hall.go_unknown"), icon="🔗")

st.title(t("home.title"))
st.markdown(t("home.intro"))
st.latex(r"\mathrm{context} = \mathrm{softmax}\!\left(\frac{q\,k^\top}{\sqrt{d_k}}\right) v")
with st.container(border=True):
    st.markdown(f"**{t('hall.path_title')}**")
    st.markdown(t("hall.path"))
    st.caption(t("hall.path_keys"))
st.subheader(t("hall.pages_title"))
for start in range(0, len(PAGES), PER_ROW):
    row = PAGES[start : start + PER_ROW]
    for column, name in zip(st.columns(PER_ROW), row, strict=False):
        with column, st.container(border=True):
            st.image(previews.svg(name), width="stretch")
            st.page_link(HERE / f"{name}.py", label=t(f"nav.{name}"))
            st.caption(t(f"home.about_{name}"))
