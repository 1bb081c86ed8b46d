"""The one error type for bad user input, shown to the user in their language."""

from __future__ import annotations


class InputError(ValueError):
    """Bad input, described by a catalog key (`error.*`) and the parameters of its message.

    The UI shows `i18n.t(err.key, lang, **err.params)`; the CLI prints the English message.
    """

    def __init__(self, key: str, **params: object) -> None:
        super().__init__(f"{key} {params}" if params else key)
        self.key = key
        self.params = params
