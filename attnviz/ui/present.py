"""Presentation mode: projector-sized type, inputs folded away, steps revealed one per click.

`present=1` in the URL (or the toggle) turns it on for the whole session. A page uses:

    present.active()              # bool: is presentation mode on?
    with present.fold(label):     # inputs: an expander, closed in presentation mode
        ...
    present.table(data)           # st.dataframe; an HTML table at projector size in presentation
    shown = present.steps("text", len(present.STEPS))
        # how many breakdown steps to show: all of them normally; in presentation mode a
        # Back / Next pair (and ArrowLeft/ArrowRight, PageUp/PageDown, what presenter remotes
        # send) reveals score -> scale -> mask -> softmax -> weighted sum one at a time.

`controls()` (called once by app.py) draws the toggle and the page style (`_PAGE`, plus
`_CSS` when on). `present=1` is read from a link and then dropped from the address: a link a
lecturer copies (or the QR code of `handoff()` shows) opens in normal mode for the students.
Figures get their projector fonts from `attnviz.ui.charts.chart`.
"""

from __future__ import annotations

import contextlib

import streamlit as st

from attnviz.ui import state
from attnviz.ui.common import t

KEY = "present"
STEPS = ("score", "scale", "mask", "softmax", "sum")  # what each click reveals

# Our own CSS (no user text) for every page, so that the first figure starts above the fold at
# 1366×768 and nothing scrolls sideways on a phone (issue 17):
# - the header is see-through and takes no room: Streamlit's 6rem of padding above every title
#   was there only to clear it (on phones it keeps the room of the sidebar button);
# - plotly's toolbar sits in a strip of its own above the figure, never over a title or an
#   axis title;
# - tables and formulas scroll inside their box.
_PAGE = """
<style>
[data-testid="stHeader"] { background: transparent; pointer-events: none; }
[data-testid="stHeader"] * { pointer-events: auto; }
[data-testid="stMainBlockContainer"] { padding-top: 3.6rem; }
@media (min-width: 640px) {
  [data-testid="stMainBlockContainer"] { padding-top: 1rem; }
}
h1 { font-size: 2rem !important; padding: 0 2.5rem 0.4rem 0 !important; }
[data-testid="stPlotlyChart"] { padding-top: 28px; }
[data-testid="stPlotlyChart"] .js-plotly-plot { overflow: visible !important; }
[data-testid="stPlotlyChart"] .modebar-container { top: -28px !important; }
.katex-display { overflow-x: auto; overflow-y: hidden; }
[data-testid="stButtonGroup"] > div { flex-wrap: wrap; }
[data-testid="stPageLink"] p, [data-testid="stPageLink"] span {
  white-space: normal !important; overflow: visible !important; }
</style>
"""

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
[data-testid="stMetricValue"] p, [data-testid="stMetricValue"] div { font-size: 2.4rem !important; }
[data-testid="stTable"] table { font-size: 1rem; }
[data-testid="stTable"] { overflow-x: auto; }
</style>
"""


def _install_once(script_id: str, code: str) -> str:
    """An HTML snippet that adds `code` as a script of the page itself (not of the component's
    iframe, which Streamlit may remove), once: it keeps working after reruns."""
    return f"""
<script>
const doc = window.parent.document;
if (!doc.getElementById("{script_id}")) {{
  const s = doc.createElement("script");
  s.id = "{script_id}";
  s.textContent = `{code}`;
  doc.head.appendChild(s);
}}
</script>
"""


# Keys a presenter remote sends -> the button it presses.
_KEYS = _install_once(
    "attnviz-keys",
    """document.addEventListener("keydown", (e) => {
    const tag = (e.target && e.target.tagName) || "";
    if (/INPUT|TEXTAREA|SELECT/.test(tag) || (e.target && e.target.isContentEditable)) return;
    const which = {ArrowRight: "next", PageDown: "next", ArrowLeft: "back", PageUp: "back"}[e.key];
    if (!which) return;
    const button = document.querySelector('[class*="st-key-step_' + which + '_"] button');
    if (button && !button.disabled) { e.preventDefault(); button.click(); }
  });""",
)


# For every figure: tick labels that would run into each other
# are hidden (the first kept, then every label clear of the last kept one), and a title wider
# than its figure is set smaller, down to 12 px. Plotly cannot know a phone's width when the
# server builds a figure, and it neither thins an axis given every tick nor wraps a title.
_FIT = _install_once(
    "attnviz-fit",
    """(() => {
    const apart = (a, b) => a.right + 2 <= b.left || b.right + 2 <= a.left
      || a.bottom + 1 <= b.top || b.bottom + 1 <= a.top;
    function fit() {
      for (const layer of document.querySelectorAll(".xaxislayer-above, .yaxislayer-above")) {
        let kept = null;
        for (const label of layer.querySelectorAll("g.xtick > text, g.ytick > text")) {
          label.style.visibility = "";
          const box = label.getBoundingClientRect();
          if (kept && !apart(kept, box)) label.style.visibility = "hidden";
          else kept = box;
        }
      }
      for (const title of document.querySelectorAll(".js-plotly-plot text.gtitle")) {
        const svg = title.closest("svg");
        if (!title.dataset.size) title.dataset.size = parseFloat(title.style.fontSize) || 16;
        title.style.fontSize = title.dataset.size + "px";
        const room = svg.getBoundingClientRect().width - 8, wide = title.getBBox().width;
        if (wide > room) {
          title.style.fontSize = Math.max(12, Math.floor(title.dataset.size * room / wide)) + "px";
        }
      }
    }
    setInterval(fit, 700);
  })();""",
)


# NAME: the steps' name; SHOWN makes each step's script new, so that the frame runs it again.
_SCROLL = """
<script>
/* step SHOWN */
setTimeout(() => {
  const bar = window.parent.document.querySelector('[class*="st-key-step_next_NAME"]');
  if (bar) bar.closest('[data-testid="stHorizontalBlock"]').scrollIntoView({block: "start"});
}, 150);
</script>
"""


def active() -> bool:
    return bool(st.session_state.get(KEY, False))


def controls():
    """The presentation toggle (sidebar, or top of the page while on) and the page style.

    Returns the row of the toggle while on (where `attnviz.ui.handoff.show` puts the students'
    QR code once the page has run), else None.
    """
    state.bind(KEY, "present", False, state.flag(), in_url=False)
    st.html(_PAGE)  # style only: Streamlit gives it no room on the page
    with st.sidebar:  # our own script, no user text; out of the page's way
        st.iframe(_FIT, height=1)
    if active():
        st.html(_CSS)
        row = st.container(horizontal=True, vertical_alignment="center")
        row.toggle(t("present.toggle"), key=KEY, help=t("present.help"))
        return row
    st.sidebar.toggle(t("present.toggle"), key=KEY, help=t("present.help"))
    return None


def frame(label: str, *, fold: bool = True):
    """(inputs, view): the two containers of a page.

    Normally side by side, so that the view's first figure starts at the top of the page beside
    the inputs instead of below them (on a phone the columns stack, inputs first); in
    presentation the inputs are one closed expander above a full-width view, unless `fold` is
    False (inputs that are the demo itself, such as a canvas to draw on).
    """
    if active() and fold:
        return st.expander(label, expanded=False, icon="⚙️"), st.container()
    inputs, view = st.columns([1, 2], gap="medium")
    return inputs, view


def fold(label: str):
    """Inputs: shown as they are normally, folded into a closed expander in presentation."""
    if active():
        return st.expander(label, expanded=False, icon="⚙️")
    return contextlib.nullcontext()


def table(data, *, hide_index: bool | None = None, **kwargs) -> None:
    """A table: normally st.dataframe (`kwargs` go to it); in presentation an HTML table
    (st.table), whose text `_CSS` sets at the projector's size. The dataframe draws its cells on
    a canvas at a fixed size that no page style reaches (issue 17)."""
    if active():
        st.table(data, hide_index=hide_index)
    else:
        st.dataframe(data, hide_index=hide_index, **kwargs)


def steps(name: str, count: int) -> int:
    """How many of `count` steps to show (see the module docstring); draws the buttons."""
    if not active():
        return count
    key = f"steps_{name}"
    shown = min(max(int(st.session_state.get(key, 1)), 1), count)

    def move(delta: int) -> None:
        st.session_state[key] = min(max(shown + delta, 1), count)
        st.session_state[f"{key}_moved"] = True

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
    script = _KEYS
    if st.session_state.pop(f"{key}_moved", False):
        # After a press, the step bar goes to the top of the screen: what the step revealed is
        # drawn under it, never below the fold (issue 17).
        script += _SCROLL.replace("NAME", name).replace("SHOWN", str(shown))
    st.iframe(script, height=1)  # our own script, no user text
    return shown
