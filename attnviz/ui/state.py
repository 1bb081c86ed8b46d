"""Every view is a link: widget values kept in the URL's query parameters and in the session.

A page binds a widget's session key to a query parameter just before it creates the widget:

    layer = state.bind("text_layer", "layer", 1, state.choice(range(1, 7)))
    st.selectbox(t("text.layer"), range(1, 7), key="text_layer")  # no index/value argument

`bind` makes sure `st.session_state[key]` holds a valid value, taken, in this order, from

1. the widget's own state (the user's last choice on this page);
2. the URL (a pasted link), read once per page and parameter in a session, when the parameter
   is there and its value is valid (a value that stopped being valid since, e.g. layer 12 after
   a switch to a 6-layer model, skips this);
3. the session's memory of this key (the user left the page and came back: Streamlit drops the
   state of widgets that are not drawn, so `bind` keeps a copy under `_bound.<key>`);
4. `default`.

and then writes the value back into the URL (`st.query_params`, no reload) and into the memory.
A URL value that does not parse or is not allowed is replaced by the default, with a notice
where the widget goes (from the catalog, naming the parameter: the bad value itself is never
displayed, so no user text is ever read as Markdown or HTML). A link never raises.

Helpers: `choice`/`integer`/`flag`/`text` build the (parse, check, dump) triple for common
widgets; `link_box()` draws the "copy link to this view" control; `forget(key)` drops a key and
its memory (e.g. when a new sample should bring its own defaults).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

from attnviz.errors import InputError
from attnviz.ui.common import t

_MEMORY = "_bound."
_SEEN = "_bound_seen"  # (page, parameter) pairs whose URL value has been read
# Longer texts stay out of the URL: browsers and servers refuse very long addresses.
MAX_URL_TEXT = 2000


@dataclass(frozen=True)
class Codec:
    """How one parameter reads from and writes to the URL."""

    parse: Callable[[str], Any]  # str -> value; raises ValueError, KeyError, InputError ... if bad
    check: Callable[[Any], bool]  # is this (parsed or remembered) value allowed now?
    dump: Callable[[Any], str] = str
    longest: int = 100  # a longer URL value is refused before it is parsed


def choice(options: Iterable, names: dict | None = None) -> Codec:
    """One of `options`; in the URL as str(option), or as names[option] when given."""
    options = list(options)
    names = names or {o: str(o) for o in options}
    back = {v: k for k, v in names.items()}
    return Codec(parse=back.__getitem__, check=lambda v: v in options, dump=names.__getitem__)


def integer(low: int, high: int) -> Codec:
    """An int in [low, high]."""
    return Codec(parse=int, check=lambda v: isinstance(v, int) and low <= v <= high)


def number(low: float, high: float) -> Codec:
    """A finite float in [low, high]."""
    return Codec(parse=float, check=lambda v: low <= v <= high, dump=lambda v: f"{v:g}")


def flag() -> Codec:
    """A bool as 1 / 0."""
    return Codec(
        parse={"1": True, "0": False, "true": True, "false": False}.__getitem__,
        check=lambda v: isinstance(v, bool),
        dump=lambda v: "1" if v else "0",
    )


def text() -> Codec:
    """Free text; a link carries at most MAX_URL_TEXT characters of it."""
    return Codec(parse=str, check=lambda v: isinstance(v, str), longest=MAX_URL_TEXT)


def many(item: Codec) -> Codec:
    """A list of items, comma separated in the URL ("" is the empty list)."""
    return Codec(
        parse=lambda s: [item.parse(x) for x in s.split(",") if x != ""],
        check=lambda v: isinstance(v, list) and all(item.check(x) for x in v),
        dump=lambda v: ",".join(item.dump(x) for x in v),
        longest=MAX_URL_TEXT,
    )


def _page() -> str:
    ctx = get_script_run_ctx()
    return ctx.page_script_hash if ctx is not None else ""


def _from_url(param: str, codec: Codec):
    """(found, value) of a URL parameter; a bad value gets a notice and counts as not found.

    The URL is read once per page and parameter in a session: afterwards it only echoes what
    this module wrote (a new key for the same parameter must not take an old echo for a link).
    """
    seen = st.session_state.setdefault(_SEEN, set())
    if (_page(), param) in seen:
        return False, None
    seen.add((_page(), param))
    raw = st.query_params.get(param)
    if raw is None:
        return False, None
    try:
        value = codec.parse(raw) if len(raw) <= codec.longest else None
        if value is not None and codec.check(value):
            return True, value
    except (ValueError, TypeError, KeyError, IndexError, OverflowError, InputError):
        pass
    refuse(param)
    return False, None


def refuse(param: str) -> None:
    """The notice for a URL parameter whose value cannot be used (the value is not shown)."""
    st.warning(t("link.bad_value", param=param), icon="🔗")


def bind(key: str, param: str, default: Any, codec: Codec, *, in_url: bool = True) -> Any:
    """Make `st.session_state[key]` a valid value (see the module docstring) and return it.

    `in_url=False` keeps the value in the session only (e.g. text too long for a link); the
    parameter is then removed from the URL and a notice says why.
    """
    state = st.session_state
    memory = _MEMORY + key
    if key in state and codec.check(state[key]):
        value = state[key]
    else:
        # The URL speaks only for a widget not yet seen: a value that stopped being valid
        # (layer 12 after a switch to a 6-layer model) falls back quietly.
        found, value = _from_url(param, codec) if key not in state else (False, None)
        if not found:
            remembered = state.get(memory, default)
            value = remembered if codec.check(remembered) else default
        state[key] = value
    state[memory] = value
    if in_url and codec.check(value):
        dumped = codec.dump(value)
        if len(dumped) > MAX_URL_TEXT:
            in_url = False
        elif st.query_params.get(param) != dumped:
            st.query_params[param] = dumped
    if not in_url and param in st.query_params:
        del st.query_params[param]
    return value


def remember(key: str, param: str, value: Any, codec: Codec) -> None:
    """Put a value that is not a widget's (e.g. a matrix read from a table) in URL and memory."""
    st.session_state[_MEMORY + key] = value
    dumped = codec.dump(value)
    if len(dumped) <= MAX_URL_TEXT and st.query_params.get(param) != dumped:
        st.query_params[param] = dumped


def recall(key: str, param: str, default: Any, codec: Codec) -> Any:
    """The value `remember` stored, else the URL's (checked), else the default."""
    if _MEMORY + key in st.session_state:
        return st.session_state[_MEMORY + key]
    found, value = _from_url(param, codec)
    return value if found else default


def forget(*keys: str) -> None:
    """Drop widget keys and their memory, so that the next `bind` uses URL or default."""
    for key in keys:
        st.session_state.pop(key, None)
        st.session_state.pop(_MEMORY + key, None)


def drop_params(*params: str) -> None:
    """Remove parameters from the URL (a new sample, say, should not keep the old head)."""
    for param in params:
        if param in st.query_params:
            del st.query_params[param]


def link() -> str:
    """The address of this view: this page's URL with the current query parameters."""
    parts = urlsplit(st.context.url or "")
    base = f"{parts.scheme}://{parts.netloc}{parts.path}" if parts.netloc else parts.path
    query = urlencode({k: st.query_params[k] for k in st.query_params})
    return f"{base}?{query}" if query else base


def link_box() -> None:
    """The "copy link to this view" control: the address in a code box with a copy button."""
    with st.popover(t("link.copy"), icon="🔗"):
        st.caption(t("link.copy_help"))
        st.code(link(), language=None, wrap_lines=True)
