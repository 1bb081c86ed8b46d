"""The one error type for bad user input, shown to the user in their language; and the log of
unexpected errors (`incident`), which the user sees as one line with an id."""

from __future__ import annotations

import logging
import secrets


class InputError(ValueError):
    """Bad input, described by a catalog key (`error.*`) and the parameters of its message.

    The UI shows `i18n.t(err.key, lang, **err.params)`; the CLI prints it in the terminal's
    language.
    """

    def __init__(self, key: str, **params: object) -> None:
        super().__init__(f"{key} {params}" if params else key)
        self.key = key
        self.params = params


log = logging.getLogger("attnviz")


def incident(exc: BaseException) -> str:
    """Log an unexpected exception with its traceback under a fresh id, and return the id.

    The user is shown one line with the id (never the traceback); whoever runs the server finds
    the same id in its log, next to the traceback.
    """
    ident = secrets.token_hex(4)
    log.error("incident %s: unexpected %s", ident, type(exc).__name__, exc_info=exc)
    return ident
