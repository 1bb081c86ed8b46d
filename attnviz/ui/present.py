"""Presentation mode: projector-sized type, inputs folded away, steps revealed one per click.

`present=1` in the URL (or the toggle) turns it on for the whole session. A page uses:

    present.active()              # bool: is presentation mode on?
    with present.fold(label):     # inputs: an expander, closed in presentation mode
        ...
    shown = present.steps("text", len(present.STEPS))
        # how many breakdown steps to show: all of them normally; in presentation mode a
        # Back / Next pair (and ArrowLeft/ArrowRight, PageUp/PageDown, what presenter remotes
        # send) reveals score -> scale -> mask -> softmax -> weighted sum one at a time.

`controls()` (called once by app.py) draws the toggle and, when on, the page style.
Figures get their projector fonts from `attnviz.ui.charts.chart`.
"""

from __future__ import annotations

import contextlib

import streamlit as st

from attnviz.ui import state
from attnviz.ui.common import t

KEY = "present"
STEPS = ("score", "scale", "mask", "softmax", "sum")  # what each click reveals

# Our own CSS (no user text): bigger type, no sidebar or header chrome, less padding on top.
_CSS = """
<style>
html { font-size: 20px; }
[data-testid="stSidebar"], [data-testid="stSidebarCollapsedControl"],
[data-testid="stHeader"], [data-testid="stToolbar"] { display: none !important; }
[data-testid="stMainBlockContainer"] { padding-top: 0.75rem; padding-bottom: 2rem;
  max-width: 100%; }
[data-testid="stMarkdownContainer"] p, [data-testid="stText"], [data-testid="stCaptionContainer"]
  { font-size: 1rem !important; }
h1 { font-size: 1.6rem !important; padding: 0.2rem 0 !important; }
</style>
"""

# Keys a presenter remote sends -> the button it presses. Installed once into the page itself
# (not the component's iframe, which Streamlit may remove), so it keeps working after reruns.
_KEYS = """
<script>
const doc = window.parent.document;
if (!doc.getElementById("attnviz-keys")) {
  const s = doc.createElement("script");
  s.id = "attnviz-keys";
  s.textContent = `document.addEventListener("keydown", (e) => {
    const tag = (e.target && e.target.tagName) || "";
    if (/INPUT|TEXTAREA|SELECT/.test(tag) || (e.target && e.target.isContentEditable)) return;
    const which = {ArrowRight: "next", PageDown: "next", ArrowLeft: "back", PageUp: "back"}[e.key];
    if (!which) return;
    const button = document.querySelector('[class*="st-key-step_' + which + '_"] button');
    if (button && !button.disabled) { e.preventDefault(); button.click(); }
  });`;
  doc.head.appendChild(s);
}
</script>
"""


def active() -> bool:
    return bool(st.session_state.get(KEY, False))


def controls() -> None:
    """The presentation toggle (sidebar, or top of the page while on) and the page style."""
    state.bind(KEY, "present", False, state.flag())
    if active():
        st.markdown(_CSS, unsafe_allow_html=True)
        st.toggle(t("present.toggle"), key=KEY, help=t("present.help"))
    else:
        st.sidebar.toggle(t("present.toggle"), key=KEY, help=t("present.help"))


def fold(label: str):
    """Inputs: shown as they are normally, folded into a closed expander in presentation."""
    if active():
        return st.expander(label, expanded=False, icon="⚙️")
    return contextlib.nullcontext()


def steps(name: str, count: int) -> int:
    """How many of `count` steps to show (see the module docstring); draws the buttons."""
    if not active():
        return count
    key = f"steps_{name}"
    shown = min(max(int(st.session_state.get(key, 1)), 1), count)

    def move(delta: int) -> None:
        st.session_state[key] = min(max(shown + delta, 1), count)

    back, middle, forward = st.columns([2, 3, 2], vertical_alignment="center")
    back.button(
        t("present.back"), key=f"step_back_{name}", on_click=move, args=(-1,),
        disabled=shown <= 1, width="stretch",
    )  # fmt: skip
    forward.button(
        t("present.next"), key=f"step_next_{name}", on_click=move, args=(1,),
        disabled=shown >= count, width="stretch", type="primary",
    )  # fmt: skip
    stage = t(f"present.stage.{STEPS[shown - 1]}")
    middle.markdown(f"**{t('present.step', shown=shown, count=count, name=stage)}**")
    st.iframe(_KEYS, height=1)  # our own script, no user text
    return shown
