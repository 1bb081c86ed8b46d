"""The CLI's output files, pinned per model: keys, dtypes, shapes and a checksum of the values.

Recorded before the families were put behind one registry (issue 19), so that the refactor keeps
every `.npz` key and value and every `predict` line. A float checksum is the sum and the sum of
squares (relative tolerance 1e-4: another BLAS may round differently); strings compare exactly.
After a deliberate change: `PYTHONPATH=. python tests/test_cli_pinned.py` rewrites cli_pinned.json.
"""

from __future__ import annotations

import contextlib
import io
import json
import tempfile
from pathlib import Path

import numpy as np
import pytest

from attnviz.__main__ import main
from attnviz.zoo import registry

RECORD = Path(__file__).with_name("cli_pinned.json")
INPUTS = {
    "minilm": ["--text", "The cat sat.", "--pair", "It was tired."],
    "e5": ["--text", "小明把苹果给了小红，因为她饿了"],
    "dinov2": ["--image", "chelsea"],
    "dates-additive": ["--text", "22 Nov 2026"],
    "dates-general": ["--text", "3/4/1999"],
    "sentiment-zh": ["--text", "物流很快，质量不错"],
    "sentiment-en": ["--text", "I hate waiting in line"],
    "lstm-zh": ["--text", "物流很快，质量不错"],
    "lstm-en": ["--text", "I hate waiting in line"],
    "digits": ["--image", "digit"],
    "smollm2": ["--text", "The capital of France is"],
}
PREDICTS = ("dates-additive", "dates-general", "sentiment-zh", "lstm-en", "digits")


def model_args(name: str, folder: Path) -> list[str]:
    """The CLI arguments of the model's input; an image is written to `folder` first."""
    option, value = INPUTS[name][:2]
    if option != "--image":
        return INPUTS[name]
    path = folder / f"{value}.png"
    if name == "dinov2":
        from attnviz.images import sample_images

        path.write_bytes(sample_images()[value])
    else:
        from PIL import Image

        from attnviz.loading import data

        pictures, _ = data.digits("held_out")
        Image.fromarray(255 - pictures[100]).resize((140, 140)).save(path)
    return [option, str(path)]


def signature(path: Path) -> dict[str, list]:
    """key -> [dtype, shape, checksum] of one .npz."""
    out = {}
    with np.load(path) as saved:
        for key in saved.files:
            value = saved[key]
            if value.dtype.kind == "U":
                check = value.ravel().tolist()
            else:
                wide = value.astype(np.float64)
                check = [float(wide.sum()), float((wide**2).sum())]
            out[key] = [str(value.dtype), list(value.shape), check]
    return out


def cli(args: list[str]) -> str:
    """The CLI's stdout; fails on a non-zero exit."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(args)
    assert code == 0, err.getvalue()
    return out.getvalue()


def trace_signature(name: str, folder: Path) -> dict[str, list]:
    out = folder / "out.npz"
    cli(["trace", "--model", name, *model_args(name, folder), "--out", str(out)])
    return signature(out)


def predict_line(name: str, folder: Path) -> str:
    return cli(["predict", "--model", name, *model_args(name, folder)])


def needs(name: str):
    return pytest.mark.skipif(not registry.installed(name), reason=f"{name} is not installed")


@pytest.mark.parametrize("name", [pytest.param(n, marks=needs(n)) for n in INPUTS])
def test_trace_npz_is_pinned(name, tmp_path):
    want = json.loads(RECORD.read_text("utf-8"))["trace"][name]
    got = trace_signature(name, tmp_path)
    assert got.keys() == want.keys()
    for key, (dtype, shape, check) in want.items():
        assert got[key][:2] == [dtype, shape], key
        if dtype.startswith("<U"):
            assert got[key][2] == check, key
        else:
            np.testing.assert_allclose(got[key][2], check, rtol=1e-4, atol=1e-6, err_msg=key)


@pytest.mark.parametrize("name", [pytest.param(n, marks=needs(n)) for n in PREDICTS])
def test_predict_line_is_pinned(name, tmp_path):
    want = json.loads(RECORD.read_text("utf-8"))["predict"][name]
    line = predict_line(name, tmp_path)
    if name.startswith("dates"):
        assert line == want
    else:  # "label  (a p  b p ...)": the label exactly, the probabilities to 1e-4
        got_label, *got_p = line.replace("(", "").replace(")", "").split()
        want_label, *want_p = want.replace("(", "").replace(")", "").split()
        assert got_label == want_label and got_p[::2] == want_p[::2]
        np.testing.assert_allclose(
            [float(p) for p in got_p[1::2]], [float(p) for p in want_p[1::2]], atol=2e-4
        )


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        record = {
            "trace": {name: trace_signature(name, Path(tmp)) for name in INPUTS},
            "predict": {name: predict_line(name, Path(tmp)) for name in PREDICTS},
        }
    RECORD.write_text(json.dumps(record, ensure_ascii=False, indent=1) + "\n", "utf-8")
