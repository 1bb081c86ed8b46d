"""Issue 19's test of the contract: a seventh family is one zoo file and one registry line, and
the CLI (`models`, `trace`), the .npz export and the open page's views work for it unchanged."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
import seventh_family
from conftest import heatmap_z, open_app

from attnviz import attention, opentrace
from attnviz.i18n import t
from attnviz.zoo import registry

TEXT = "attention!"


@pytest.fixture
def chars(monkeypatch):
    """The seventh family as a zoo module, and its one line in the registry."""
    monkeypatch.setitem(sys.modules, "attnviz.zoo.chars", seventh_family)
    model = registry.Model("chars", "characters, one layer of 2 heads", None, "tests", ())
    monkeypatch.setitem(registry.MODELS, "chars", model)
    return "chars"


def by_hand(text: str) -> np.ndarray:
    """The family's weights recomputed in numpy from its formulas: (H, T, T)."""
    w = seventh_family.load("chars")
    ids = np.frombuffer(text.encode(), dtype=np.uint8)
    x = (w["bytes"][ids] + w["positions"][: len(ids)]).astype(np.float64)
    heads = seventh_family.HEADS
    q, k = ((x @ w[m]).reshape(len(ids), heads, -1).transpose(1, 0, 2) for m in ("wq", "wk"))
    scores = q @ k.transpose(0, 2, 1) / np.sqrt(q.shape[-1])
    e = np.exp(scores - scores.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def test_the_cli_lists_and_traces_the_seventh_family(chars, cli, tmp_path):
    code, out, _ = cli("models")
    assert code == 0 and "chars" in out
    path = tmp_path / "chars.npz"
    code, out, err = cli("trace", "--model", chars, "--text", TEXT, "--out", str(path))
    assert code == 0, err
    trace, notes = opentrace.read(path.read_bytes())
    assert not notes
    assert trace.queries == tuple(TEXT) and trace.model == chars
    np.testing.assert_allclose(trace.attentions[0], by_hand(TEXT), atol=1e-5)
    step = attention.breakdown(trace.layers[0], 1, 3)  # the open page's step-by-step
    np.testing.assert_allclose(step.weights[0], by_hand(TEXT)[1, 3], atol=1e-5)


def test_bad_input_to_the_seventh_family_gets_the_usual_message(chars, cli, tmp_path):
    code, _, err = cli("trace", "--model", chars, "--text", "  ", "--out", str(tmp_path / "x.npz"))
    assert code != 0 and t("error.text_empty", "en") in err
    assert not (tmp_path / "x.npz").exists()


def test_the_open_page_shows_the_seventh_familys_trace(chars, cli, tmp_path):
    path = tmp_path / "chars.npz"
    assert cli("trace", "--model", chars, "--text", TEXT, "--out", str(path))[0] == 0
    at = open_app("open", lang="en")
    at.file_uploader(key="open_upload").set_value(("chars.npz", path.read_bytes(), "zip")).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    np.testing.assert_allclose(heatmap_z(spec), by_hand(TEXT)[0], atol=1e-5)
