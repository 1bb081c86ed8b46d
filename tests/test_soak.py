"""The soak's students upload as the browser does (benchmarks/soak.py, issue 21): an upload URL
asked over the websocket, the file PUT there with the XSRF token, then named in the widget's
state; the photo's and the digit's pages draw what was uploaded."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

from attnviz.serve.client import Session
from attnviz.serve.launch import Served
from benchmarks.soak import digit, photo


async def upload_both(url: str) -> list[tuple[str, int, list[str], list[str]]]:
    """(page, figures, errors, warnings) of the runs before and after each upload."""
    seen = []
    async with Session(url) as session:
        await session.run("image")
        before = await session.run("image", {"image_source": "Upload your own"})
        await session.upload("image_upload", "photo.jpg", photo(7))
        after = await session.run("image")
        seen += [("image", r.plots, r.errors, r.warnings) for r in (before, after)]
        await session.run("digits")
        before = await session.run("digits", {"digits_source": "Upload"})
        await session.upload("digits_upload", "digit.png", digit(7))
        after = await session.run("digits")
        seen += [("digits", r.plots, r.errors, r.warnings) for r in (before, after)]
    return seen


def test_an_upload_over_the_websocket_reaches_its_page():
    with Served(warm_up=False) as served, ThreadPoolExecutor(1) as worker:
        seen = worker.submit(asyncio.run, upload_both(served.url)).result()
    # no figure while the uploader is empty; the uploaded photo's and digit's figures after
    assert [(page, plots > 0, errors) for page, plots, errors, _ in seen] == [
        ("image", False, []), ("image", True, []), ("digits", False, []), ("digits", True, []),
    ]  # fmt: skip
