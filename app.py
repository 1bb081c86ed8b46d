"""attnviz: page config, language, navigation — nothing else."""

import streamlit as st

from attnviz.i18n import LANGS, pick_lang
from attnviz.ui.common import t

st.set_page_config(page_title="attnviz", page_icon="🔍", layout="wide")

if "lang" not in st.session_state:
    st.session_state.lang = pick_lang(
        st.query_params.get("lang"), st.context.locale or st.context.headers.get("Accept-Language")
    )
st.sidebar.segmented_control(
    t("language"),
    LANGS,
    format_func=lambda code: {"en": "English", "zh": "中文"}[code],
    key="lang",
    required=True,
)
st.query_params["lang"] = st.session_state.lang

# The default page is served at "/", so the landing page takes that place and every other page
# keeps a stable path (/examples, /playground, /text, /image).
PAGES = ("examples", "playground", "text", "image", "generate")
home = st.Page("attnviz/ui/pages/home.py", title=t("nav.home"), icon="🏠", default=True)
navigation = st.navigation(
    [home]
    + [
        st.Page(f"attnviz/ui/pages/{name}.py", title=t(f"nav.{name}"), url_path=name)
        for name in PAGES
    ]
)
st.sidebar.caption(t("app_title"))
navigation.run()
