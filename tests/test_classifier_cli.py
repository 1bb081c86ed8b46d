"""`python -m attnviz trace|predict` with the project's trained classifiers."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from attnviz.__main__ import main
from attnviz.loading import data


def test_trace_text_model(trace_npz):
    saved = trace_npz("--model", "lstm-zh", "--text", "物流很快，质量不错")
    assert {"tokens", "attentions", "prediction", "probabilities"} <= set(saved)
    assert saved["attentions"].shape == saved["tokens"].shape
    assert saved["attentions"].sum() == pytest.approx(1.0, abs=1e-5)
    assert str(saved["prediction"]) in ("negative", "positive")


def test_trace_and_predict_digit(tmp_path, capsys, trace_npz):
    images, labels = data.digits("held_out")
    picture = tmp_path / "digit.png"
    Image.fromarray(255 - images[100]).resize((140, 140)).save(picture)
    saved = trace_npz("--model", "digits", "--image", str(picture))
    assert saved["pixel_values"].shape == (28, 28)
    assert saved["attentions"].shape == (49, 49)
    assert int(saved["prediction"]) == labels[100]
    assert main(["predict", "--model", "digits", "--image", str(picture)]) == 0
    assert capsys.readouterr().out.startswith(f"{labels[100]}  (0 ")


def test_predict_text(capsys):
    assert main(["predict", "--model", "sentiment-en", "--text", "I hate waiting in line"]) == 0
    line = capsys.readouterr().out
    assert line.split()[0] in ("negative", "neutral", "positive") and "positive 0." in line


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model", "sentiment-zh", "--text", ""], "Type some text"),
        (["--model", "sentiment-zh", "--text", "😀😀"], "no word this model knows"),
        (["--model", "sentiment-zh"], "pass --text"),
        (["--model", "digits"], "pass --image"),
        (["--model", "digits", "--image", "/nonexistent.png"], "Cannot read"),
    ],
)
def test_bad_input_is_one_line(args, message, capsys):
    assert main(["predict", *args]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_blank_image_is_one_line(tmp_path, capsys):
    blank = io.BytesIO()
    Image.new("L", (50, 50), 255).save(blank, "PNG")
    (tmp_path / "b.png").write_bytes(blank.getvalue())
    assert main(["predict", "--model", "digits", "--image", str(tmp_path / "b.png")]) == 2
    assert "no digit" in capsys.readouterr().err
