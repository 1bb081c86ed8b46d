"""A lone surrogate typed or pasted into a text box must not cut the tab off the server.

The browser encodes text with protobufjs, which writes a lone UTF-16 surrogate (U+D800-U+DFFF,
half of an emoji pair) as the three bytes ED A0-BF 80-BF: not UTF-8. Streamlit's server refuses
such a frame (`String field had bad UTF-8`) and closes the websocket; the browser reconnects and
sends the same widget state again, so every later message of that tab is refused and the page
shows nothing until a reload. Here a frame that fails to parse for that reason is parsed again
with each such sequence replaced by U+FFFD (EF BF BD): three bytes for three, so every length
prefix of the protobuf still holds. Any other broken frame is refused as before.
"""

from __future__ import annotations

import re

from google.protobuf.message import DecodeError
from streamlit.proto.BackMsg_pb2 import BackMsg

SURROGATE = re.compile(rb"\xed[\xa0-\xbf][\x80-\xbf]")
REPLACEMENT = "\ufffd".encode()


class RepairingBackMsg:
    """A BackMsg (every attribute is the parsed message's) whose parse replaces lone
    surrogates. Generated protobuf classes cannot be subclassed, hence the wrapper."""

    __slots__ = ("_msg",)

    def __init__(self) -> None:
        self._msg = BackMsg()

    def ParseFromString(self, data: bytes) -> int:  # noqa: N802 - protobuf's name
        try:
            return self._msg.ParseFromString(data)
        except DecodeError:
            repaired = SURROGATE.sub(REPLACEMENT, data)
            if repaired == data:
                raise
            return self._msg.ParseFromString(repaired)

    def __getattr__(self, name: str):
        return getattr(self._msg, name)


def install() -> None:
    """Have the server's websocket handler parse with RepairingBackMsg (idempotent)."""
    from streamlit.web.server.starlette import starlette_websocket

    starlette_websocket.BackMsg = RepairingBackMsg
