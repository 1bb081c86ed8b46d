"""Plain HTTP to a server: no streamlit import, so the launcher starts Streamlit at once."""

from __future__ import annotations

import http.client
import urllib.parse


def http_get(
    base: str, path: str, headers: dict | None = None, timeout: float = 10, *,
    method: str = "GET", body: bytes | None = None,
):  # fmt: skip
    """(status, headers, body) of a GET (or `method` with `body`) on the server at `base`
    (http://host:port)."""
    url = urllib.parse.urlsplit(base)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.headers, response.read()
    finally:
        conn.close()


def healthy(base: str) -> bool:
    try:
        return http_get(base, "/_stcore/health", timeout=2)[0] == 200
    except OSError:
        return False
