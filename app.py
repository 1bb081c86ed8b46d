"""attnviz: page config, language, navigation (behind the last-resort handler) — nothing else."""

from importlib import resources

import streamlit as st

from attnviz.i18n import LANGS, pick_lang
from attnviz.ui import charts, handoff, present, selections, state, surrogates, turns
from attnviz.ui.common import show_unexpected, t

st.set_page_config(page_title="attnviz", page_icon="🔍", layout="wide")
surrogates.install()  # a lone surrogate typed in a text box must not cut the tab off
selections.install()  # a crafted chart selection is dropped, not an error

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
if st.query_params.get("lang", LANGS[0]) not in LANGS:
    state.refuse("lang")
st.query_params["lang"] = st.session_state.lang
selections.notice()
presenting = present.controls()
charts.export_format()

# The default page is served at "/", so the landing page takes that place and every other page
# keeps a stable path (/examples, /playground, /text, /image, ...).
PAGES = (
    "examples", "playground", "text", "image", "seq2seq", "sentiment", "digits",
    "generate", "heads", "open",
)  # fmt: skip
# Found from the package, not from this script: installed, this script is attnviz/entry/app.py.
FOLDER = resources.files("attnviz.ui") / "pages"
home = st.Page(FOLDER / "home.py", title=t("nav.home"), icon="🏠", default=True)
navigation = st.navigation(
    [home]
    + [st.Page(FOLDER / f"{name}.py", title=t(f"nav.{name}"), url_path=name) for name in PAGES]
)
st.sidebar.caption(t("app_title"))
try:
    with turns.turn():  # one run at a time does Python work (attnviz/ui/turns.py)
        navigation.run()
        handoff.show(presenting, navigation.url_path)  # presentation: the students' QR code
except Exception as exc:  # noqa: BLE001 - the last resort, for every page (see show_unexpected)
    show_unexpected(exc)
