"""A small client of Streamlit's own websocket protocol, speaking it the way the browser does.

The browser opens `/_stcore/stream` (subprotocol "streamlit"), sends a `BackMsg.rerun_script`
carrying the page and every widget's state, and receives `ForwardMsg`s: deltas (elements, with the
widgets' ids and options) until `script_finished`. This module does the same with the protobufs of
the installed streamlit, so a server can be warmed at launch, loaded by many simulated students
(benchmarks/load.py) and driven through nginx (tests) without a browser per user.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from dataclasses import dataclass

from streamlit.proto.Alert_pb2 import Alert
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ClientState_pb2 import ClientState, ContextInfo
from streamlit.proto.Common_pb2 import FileURLsRequest
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.proto.WidgetStates_pb2 import WidgetState
from websockets.asyncio.client import connect

from attnviz.serve.http import http_get

# The WidgetState field each widget kind's value travels in (see streamlit/elements/widgets/*:
# `value_type=`). Options of selectbox and radio travel as their formatted labels.
VALUE_FIELDS = {
    "text_area": "string_value",
    "text_input": "string_value",
    "selectbox": "string_value",
    "radio": "string_value",
    "plotly_chart": "string_value",  # JSON of the selection
    "checkbox": "bool_value",  # st.checkbox and st.toggle
    "slider": "double_array_value",
}
XSRF_COOKIE = "_streamlit_xsrf"  # what an upload must echo in its X-Xsrftoken header
REPLICA_HEADER = "X-Attnviz-Replica"  # set by deploy/nginx.conf: which replica answered


@dataclass
class Widget:
    kind: str  # the Element field: "selectbox", "slider", ...
    id: str
    options: list[str]


@dataclass
class Run:
    """What one script run sent back."""

    seconds: float  # from sending the rerun to `script_finished`
    first_plot: float | None  # seconds until the first plotly figure's delta, if any
    plots: int
    errors: list[str]  # exceptions, error alerts, an unfinished or failed run
    warnings: list[str]  # warning alerts: what the page told the user about their input
    widgets: dict[str, Widget]  # by the widget's user key
    texts: list[tuple[float, str]]  # (seconds, body) of each st.text as it arrived


def _user_key(widget_id: str) -> str | None:
    """The `key=` a page gave a widget: ids are "$$ID-<hash>-<key>" ("None" when no key)."""
    parts = widget_id.split("-", 2)
    return parts[2] if len(parts) == 3 and parts[2] != "None" else None


class Session:
    """One browser tab: a websocket to the app, its cookies and the widget states it has set.

    Usage: `async with Session(url) as s: run = await s.run("text", {"text_a": "..."})`.
    """

    def __init__(self, base: str, lang: str = "en", timeout: float = 120):
        self.base = base.rstrip("/")
        self.lang = lang
        self.timeout = timeout
        self.cookies: dict[str, str] = {}
        self.states: dict[str, WidgetState] = {}  # widget id -> last value sent
        self.widgets: dict[str, Widget] = {}
        self.replicas: list[str] = []  # the replica header of every response, through nginx
        self.queries: dict[str, str] = {}  # page -> the query string the app last gave its URL
        self.session_id = ""
        self._ws = None

    async def __aenter__(self) -> Session:
        # The page's HTML first, as a browser loads it: through nginx this sets the sticky cookie.
        status, headers, _ = http_get(self.base, "/")
        if status != 200:
            raise ConnectionError(f"GET / answered {status}")
        self._remember(headers)
        await self.connect()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.close()

    def _remember(self, headers) -> None:
        for cookie in headers.get_all("Set-Cookie") or []:
            name, _, rest = cookie.partition("=")
            self.cookies[name.strip()] = rest.split(";", 1)[0]
        if headers.get(REPLICA_HEADER):
            self.replicas.append(headers[REPLICA_HEADER])

    async def connect(self) -> None:
        """(Re)open the websocket; a reconnect names the old session, as the browser does."""
        url = self.base.replace("http", "ws", 1) + "/_stcore/stream"
        cookie = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        # Subprotocol entries: "streamlit", the XSRF token (a placeholder, as the browser sends
        # when it has none: without an Origin header the server does not check it), session id.
        protocols = ["streamlit"] + (
            ["PLACEHOLDER_AUTH_TOKEN", self.session_id] if self.session_id else []
        )
        self._ws = await connect(
            url,
            subprotocols=protocols,
            additional_headers={"Cookie": cookie} if cookie else {},
            max_size=None,
            open_timeout=self.timeout,
            ping_interval=None,
        )
        self._remember(self._ws.response.headers)

    async def close(self) -> None:
        if self._ws is not None:
            await self._ws.close()
            self._ws = None

    def set(self, key: str, value) -> None:
        """Give the widget with user key `key` a value, sent with the next run."""
        widget = self.widgets[key]
        state = WidgetState(id=widget.id)
        field_name = VALUE_FIELDS[widget.kind]
        if field_name == "double_array_value":
            state.double_array_value.data[:] = [float(value)]
        elif widget.kind == "plotly_chart":
            state.string_value = json.dumps(value)
        else:
            setattr(state, field_name, value)
        self.states[widget.id] = state

    async def upload(self, key: str, name: str, data: bytes) -> None:
        """Put file `name` holding `data` in the file uploader with user key `key`, sent with
        the next run; as the browser does: ask for an upload URL over the websocket, PUT the
        file there (with the XSRF cookie, which the health check hands out, echoed in a header),
        then name it in the widget's state."""
        request = FileURLsRequest(
            request_id=uuid.uuid4().hex, file_names=[name], session_id=self.session_id
        )
        await self._ws.send(BackMsg(file_urls_request=request).SerializeToString())
        msg = ForwardMsg()
        while msg.file_urls_response.response_id != request.request_id:
            msg.ParseFromString(await self._recv(self.timeout))
        urls = msg.file_urls_response.file_urls[0]
        if XSRF_COOKIE not in self.cookies:
            self._remember(http_get(self.base, "/_stcore/health")[1])
        boundary = uuid.uuid4().hex
        disposition = f'Content-Disposition: form-data; name="file"; filename="{name}"'
        head, tail = f"--{boundary}\r\n{disposition}\r\n\r\n", f"\r\n--{boundary}--\r\n"
        body = head.encode() + data + tail.encode()
        headers = {
            "Content-Type": f"multipart/form-data; boundary={boundary}",
            "Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items()),
            "X-Xsrftoken": self.cookies.get(XSRF_COOKIE, ""),
        }
        status, _, answer = await asyncio.to_thread(
            http_get, self.base, urls.upload_url, headers, self.timeout, method="PUT", body=body
        )
        if status != 204:
            raise ConnectionError(f"upload of {name} answered {status}: {answer[:200]!r}")
        state = WidgetState(id=self.widgets[key].id)
        state.file_uploader_state_value.uploaded_file_info.add(
            name=name, size=len(data), file_id=urls.file_id, file_urls=urls
        )
        self.states[state.id] = state

    async def run(self, page: str, changes: dict | None = None) -> Run:
        """Run `page` with `changes` ({user key: value}) on top of every state set before."""
        for key, value in (changes or {}).items():
            self.set(key, value)
        # As the browser: a page opens with the language only, then sends back the URL the app
        # wrote (`page_info_changed`), so the app rewrites only the parameters that change.
        client = ClientState(
            query_string=self.queries.get(page, f"lang={self.lang}"),
            page_name=page,
            context_info=ContextInfo(locale=self.lang, timezone="UTC", url=f"{self.base}/{page}"),
        )
        client.widget_states.widgets.extend(self.states.values())
        start = time.perf_counter()
        await self._ws.send(BackMsg(rerun_script=client).SerializeToString())
        first_plot, plots, errors, warnings, widgets, texts = None, 0, [], [], {}, []
        deadline = start + self.timeout
        while True:
            left = deadline - time.perf_counter()
            if left <= 0:
                errors.append("timeout")
                break
            try:
                data = await self._recv(left)
            except TimeoutError:
                errors.append("timeout")
                break
            msg = ForwardMsg()
            msg.ParseFromString(data)
            kind = msg.WhichOneof("type")
            if kind == "new_session":
                self.session_id = msg.new_session.initialize.session_id or self.session_id
            elif kind == "delta" and msg.delta.WhichOneof("type") == "new_element":
                element = msg.delta.new_element
                name = element.WhichOneof("type")
                if name == "plotly_chart":
                    plots += 1
                    first_plot = first_plot or time.perf_counter() - start
                if name == "text":
                    texts.append((time.perf_counter() - start, element.text.body))
                if name == "exception":
                    errors.append(f"exception: {element.exception.message[:200]}")
                elif name == "alert" and element.alert.format == Alert.ERROR:
                    errors.append(f"error: {element.alert.body[:200]}")
                elif name == "alert" and element.alert.format == Alert.WARNING:
                    warnings.append(element.alert.body)
                widget_id = getattr(getattr(element, name), "id", "") if name else ""
                key = _user_key(widget_id) if isinstance(widget_id, str) else None
                if key:
                    options = list(getattr(getattr(element, name), "options", []))
                    widgets[key] = Widget(name, widget_id, [str(o) for o in options])
            elif kind == "page_info_changed":
                self.queries[page] = msg.page_info_changed.query_string
            elif kind == "page_not_found":
                errors.append(f"page not found: {page}")
            elif kind == "script_finished":
                status = msg.script_finished
                if status == ForwardMsg.FINISHED_EARLY_FOR_RERUN:
                    continue  # the run we asked for follows
                if status != ForwardMsg.FINISHED_SUCCESSFULLY:
                    errors.append(f"script finished with status {status}")
                break
        self.widgets.update(widgets)
        return Run(time.perf_counter() - start, first_plot, plots, errors, warnings, widgets, texts)

    async def _recv(self, timeout: float) -> bytes:
        return await asyncio.wait_for(self._ws.recv(), timeout)
