"""The page cases of issue 21's hostile sweep: a score function compared with itself, "[PAD]"
typed to the sentiment models, text that is no date, and a lone surrogate typed in a text box and
crafted chart selections (both sent over the real websocket, as the hostile tester did)."""

from __future__ import annotations

import asyncio
import json
from concurrent.futures import ThreadPoolExecutor

import pytest
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ClientState_pb2 import ClientState, ContextInfo
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.proto.WidgetStates_pb2 import WidgetState
from test_hostile_pages import open_page  # tests/ is on sys.path (pytest's prepend mode)
from test_lecture import open_link

from attnviz.i18n import t
from attnviz.serve.client import Session
from attnviz.serve.launch import Served
from attnviz.ui import selections, surrogates


@pytest.mark.parametrize("score", ["additive", "general", "linear", "scaled_dot"])
def test_a_score_function_compared_with_itself_gets_a_notice(score):
    at = open_link("playground", lang="en", compare="1", score=score, other=score)
    assert not at.exception, [e.message for e in at.exception]
    assert t("playground.same_choice", "en") in [i.value for i in at.info]
    # the same choice made with the page's own controls, then undone
    at.selectbox(key="score_other").set_value("cosine").run()
    assert not at.exception and t("playground.same_choice", "en") not in [i.value for i in at.info]
    at.selectbox(key="score").set_value("cosine").run()
    assert not at.exception, [e.message for e in at.exception]
    assert t("playground.same_choice", "en") in [i.value for i in at.info]


def test_padding_markers_typed_on_the_sentiment_page_get_a_message():
    at = open_page("sentiment")
    at.radio(key="sentiment_source").set_value("own").run()
    at.text_area(key="sentiment_own").input("[PAD] [PAD]").run()
    assert not at.exception
    assert [e.value for e in at.error] == [t("error.sentiment_padding", "en")]
    at.text_area(key="sentiment_own").input("a lovely day").run()  # the page keeps working
    assert not at.exception and not at.error


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_text_that_is_no_date_says_so(lang):
    at = open_page("seq2seq", lang)
    at.text_input(key="s2s_text").input("hello world").run()
    assert not at.exception
    assert t("seq2seq.notice.no_date_in_input", lang) in [w.value for w in at.warning]


def test_the_repair_keeps_every_length_and_refuses_other_broken_frames():
    frame = rerun_frame("Hi \ud800!".replace("\ud800", "SUR"), page="text")
    bad = frame.replace(b"SUR", b"\xed\xa0\x80")
    msg = surrogates.RepairingBackMsg()
    msg.ParseFromString(bad)
    assert msg.rerun_script.widget_states.widgets[0].string_value == "Hi \ufffd!"
    with pytest.raises(Exception):  # noqa: B017 - protobuf's DecodeError, as Streamlit sees it
        surrogates.RepairingBackMsg().ParseFromString(b"\xff\xff\xff")


def rerun_frame(value: str, page: str, widget_id: str = "x") -> bytes:
    client = ClientState(
        query_string="lang=en", page_name=page,
        context_info=ContextInfo(locale="en", timezone="UTC", url=f"http://h/{page}"),
    )  # fmt: skip
    client.widget_states.widgets.add(id=widget_id, string_value=value)
    return BackMsg(rerun_script=client).SerializeToString()


async def type_a_lone_surrogate(url: str) -> tuple[list[str], list[str]]:
    """A tab types "Hi <U+D800>" as the browser sends it; (errors of that run, of the next)."""
    async with Session(url) as session:
        first = await session.run("text")
        assert first.errors == [] and "text_a" in session.widgets
        widget = session.widgets["text_a"].id
        frame = rerun_frame("Hi SUR there", "text", widget).replace(b"SUR", b"\xed\xa0\x80")
        await session._ws.send(frame)
        seen = []
        while True:  # the server answers instead of closing the connection
            msg = ForwardMsg()
            msg.ParseFromString(await session._recv(120))
            if msg.WhichOneof("type") == "script_finished":
                seen.append(msg.script_finished)
                break
        after = await session.run("text", {"text_a": "Hi again"})
        return seen, after.errors


def test_a_lone_surrogate_typed_in_a_text_box_keeps_the_tab_served():
    with Served(warm_up=False) as served, ThreadPoolExecutor(1) as worker:
        finished, later = worker.submit(asyncio.run, type_a_lone_surrogate(served.url)).result()
    assert finished == [ForwardMsg.FINISHED_SUCCESSFULLY] and later == []


# What a hostile client sent as a chart's selection: not JSON, JSON of another shape, numbers no
# browser writes (JSON.stringify has no NaN or Infinity), nesting deeper than Python's recursion.
CRAFTED = [
    "{", "", "null", "[]", '"selection"', '{"selection": 5}', '{"selection": {"points": 5}}',
    '{"selection": {"points": [5]}}', '{"selection": {"points": [], "box": {}}}',
    '{"selection": {"points": [{"point_index": 1e309}]}}',
    '{"selection": {"points": [{"x": NaN, "y": -Infinity}]}}',
    '{"selection": {"points": [{"point_index": ' + "9" * 5000 + "}]}}",
    "[" * 100_000 + "]" * 100_000,
]  # fmt: skip
CLICK = {
    "points": [{"point_index": 5, "x": 5, "y": 0}], "point_indices": [5], "box": [], "lasso": [],
}  # fmt: skip


@pytest.mark.parametrize("value", CRAFTED)
def test_a_crafted_selection_is_refused(value):
    assert not selections.valid(value)


def test_what_the_browser_sends_is_a_valid_selection():
    empty = {"points": [], "point_indices": [], "box": [], "lasso": []}
    box = {**empty, "box": [{"xref": "x", "yref": "y", "x": [0.5, 2.25], "y": [-1, 3]}]}
    for selection in (empty, CLICK, box):
        assert selections.valid(json.dumps({"selection": selection}))


async def send_crafted_selections(url: str, lang: str) -> list:
    """On the digits page (its chart's click runs a callback, before the page script), every
    crafted value in turn, then a real click: [(errors, warnings) of each run]."""
    seen = []
    async with Session(url, lang=lang) as session:
        session.queries["digits"] = f"lang={lang}&source=sample"  # a held-out digit, drawn
        first = await session.run("digits")
        assert first.errors == [] and "digits_map_0" in session.widgets
        chart = session.widgets["digits_map_0"].id
        for value in CRAFTED:
            session.states[chart] = WidgetState(id=chart, string_value=value)
            run = await session.run("digits")
            seen.append((run.errors, run.warnings))
        click = await session.run("digits", {"digits_map_0": {"selection": CLICK}})
        seen.append((click.errors, click.warnings))
        assert "digits_map_5" in click.widgets  # the click picked position 5: the page works
    return seen


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_a_crafted_selection_is_dropped_with_a_message_and_the_page_keeps_working(lang):
    with Served(warm_up=False) as served, ThreadPoolExecutor(1) as worker:
        seen = worker.submit(asyncio.run, send_crafted_selections(served.url, lang)).result()
    dropped = t("error.selection_dropped", lang)
    assert seen[:-1] == [([], [dropped])] * len(CRAFTED)
    assert seen[-1] == ([], [])
