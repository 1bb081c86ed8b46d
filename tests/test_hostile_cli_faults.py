"""The CLI cases of issue 21's hostile sweep: writes that fail (full disk, file-size limit,
/proc), --out naming the --image input, bad generate arguments, the terminal's language for
every message and note, the notices the pages give, and a log link planted in /tmp."""

from __future__ import annotations

import errno
import os
import resource
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import one_line
from PIL import Image

from attnviz import __main__ as cli_module
from attnviz.i18n import t
from attnviz.zoo import registry

ROOT = Path(__file__).resolve().parent.parent
TEXT = ("trace", "--model", "sentiment-en", "--text", "a quiet and lovely film")
needs_smollm2 = pytest.mark.skipif(not registry.installed("smollm2"), reason="smollm2 missing")


def test_a_full_disk_leaves_the_old_file_whole(cli, tmp_path, monkeypatch):
    out = tmp_path / "t.npz"
    out.write_bytes(b"the old trace")

    def full(handle, **arrays):
        handle.write(b"PK" * 2048)  # a partial zip, as a disk that fills up mid-write leaves
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(np, "savez_compressed", full)
    code, stdout, err = cli(*TEXT, "--out", str(out))
    assert code == 2 and one_line(err) and stdout == "", err
    assert err == f"error: Cannot write {out}: {os.strerror(errno.ENOSPC)}.\n"
    assert out.read_bytes() == b"the old trace"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.npz"]  # no temporary file left


def test_a_file_size_limit_is_cannot_write_not_an_incident(tmp_path):
    """The real CLI under RLIMIT_FSIZE (Python ignores SIGXFSZ: the write fails with EFBIG)."""
    out = tmp_path / "t.npz"
    out.write_bytes(b"the old trace")

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (256, 256))  # the trace's zip is larger

    run = subprocess.run(
        [sys.executable, "-m", "attnviz", *TEXT, "--out", str(out)],
        capture_output=True, text=True, cwd=ROOT, timeout=300, preexec_fn=cap,
        env={**os.environ, "LC_ALL": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1"},
    )  # fmt: skip
    assert run.returncode == 2 and one_line(run.stderr), run.stderr
    assert run.stderr.startswith(f"error: Cannot write {out}: File too large")
    assert out.read_bytes() == b"the old trace"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.npz"]


def test_out_in_proc_is_cannot_write(cli):
    code, _, err = cli(*TEXT, "--out", "/proc/version")
    assert code == 2 and one_line(err) and err.startswith("error: Cannot write /proc/version: ")


def test_a_good_write_replaces_the_file_whole(cli, tmp_path):
    out = tmp_path / "t.npz"
    out.write_bytes(b"the old trace")
    code, _, err = cli(*TEXT, "--out", str(out))
    assert code == 0, err
    with np.load(out) as saved:
        assert saved["attentions"].sum() == pytest.approx(1.0, abs=1e-5)
    assert out.stat().st_mode & 0o777 == 0o666 & ~_umask()  # as open() makes it, not 0600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.npz"]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@pytest.mark.parametrize("how", ["same name", "a link to it"])
def test_out_never_overwrites_the_image_it_reads(cli, tmp_path, how):
    photo = tmp_path / "digit.png"
    Image.new("L", (28, 28), 255).save(photo)
    before = photo.read_bytes()
    out = photo
    if how == "a link to it":
        out = tmp_path / "link.npz"
        out.symlink_to(photo)
    code, _, err = cli("trace", "--model", "digits", "--image", str(photo), "--out", str(out))
    assert code == 2 and one_line(err), err
    assert err == f"error: {t('error.cli_out_is_input', 'en', path=out)}\n"
    assert photo.read_bytes() == before


@pytest.mark.parametrize(
    ("option", "key"),
    [
        (("--seed", "-1"), "error.cli_seed"),
        (("--temperature", "1e-320"), "error.cli_temperature_tiny"),
        (("--temperature", "nan"), "error.generate_temperature"),
    ],
)
def test_bad_generate_numbers_are_one_line_before_the_model_loads(cli, monkeypatch, option, key):
    from attnviz.zoo import llama

    monkeypatch.setattr(llama, "load", lambda: pytest.fail("the model was loaded"))
    code, _, err = cli("generate", "--model", "smollm2", "--text", "Hi", *option)
    assert code == 2 and one_line(err), err
    got = float(option[1]) if option[0] == "--temperature" else int(option[1])
    assert err == f"error: {t(key, 'en', got=got, low=cli_module.MIN_TEMPERATURE)}\n"


@needs_smollm2
def test_a_lone_surrogate_in_the_prompt_is_dropped(cli):
    """`--text $'Hi\\xff'`: Python's argv holds the undecodable byte as U+DCFF."""
    code, stdout, err = cli("generate", "--model", "smollm2", "--text", "Hi\udcff",
                            "--max-new-tokens", "2")  # fmt: skip
    assert code == 0, err
    assert stdout.strip()


def test_the_terminal_language_reaches_the_seq2seq_notes(cli, monkeypatch):
    monkeypatch.setenv("LC_ALL", "zh_CN.UTF-8")
    code, _, err = cli("predict", "--model", "dates-additive", "--text", "hello world")
    assert code == 0
    assert f"note: {t('seq2seq.notice.no_date_in_input', 'zh')}" in err.splitlines()
    assert any(line.startswith("note: 模型从未见过的字符") for line in err.splitlines()), err
    # --lang wins over the terminal
    code, _, err = cli("predict", "--model", "dates-additive", "--text", "hello", "--lang", "en")
    assert f"note: {t('seq2seq.notice.no_date_in_input', 'en')}" in err.splitlines()


def test_a_date_still_gets_no_not_a_date_note(cli):
    code, stdout, err = cli("predict", "--model", "dates-additive", "--text", "22 Nov 2026")
    assert code == 0 and stdout.strip() == "2026-11-22" and err == ""


def test_digits_on_noise_says_it_does_not_look_like_a_digit(cli, tmp_path):
    noise = tmp_path / "noise.png"
    pixels = np.random.default_rng(0).integers(0, 256, (64, 64), dtype=np.uint8)
    Image.fromarray(pixels).save(noise)
    code, stdout, err = cli("predict", "--model", "digits", "--image", str(noise))
    assert code == 0 and stdout.strip()
    assert f"note: {t('notice.digit_not_digit', 'en')}" in err.splitlines()


def test_an_animated_gif_says_only_its_first_frame_is_read(cli, tmp_path):
    gif = tmp_path / "anim.gif"
    frames = [Image.new("L", (28, 28), 255) for _ in range(3)]
    for i, frame in enumerate(frames):
        frame.paste(0, (12 + i, 4, 16 + i, 24))  # a "1", moving
    frames[0].save(gif, save_all=True, append_images=frames[1:], duration=100)
    code, _, err = cli("predict", "--model", "digits", "--image", str(gif), "--lang", "zh")
    assert code == 0
    assert f"note: {t('notice.image_first_frame', 'zh', format='GIF')}" in err.splitlines()


def test_english_text_to_the_chinese_sentiment_model_gets_the_language_note(cli):
    code, _, err = cli("predict", "--model", "sentiment-zh", "--text", "What a wonderful day")
    assert code == 0
    assert err.splitlines() == [f"note: {t('sentiment.other_language_zh', 'en')}"]
    code, _, err = cli("predict", "--model", "sentiment-zh", "--text", "今天天气很好")
    assert code == 0 and err == ""


def test_padding_markers_typed_as_text_are_refused(cli):
    code, _, err = cli("predict", "--model", "sentiment-en", "--text", "[PAD] [PAD]")
    assert code == 2 and err == f"error: {t('error.sentiment_padding', 'en')}\n"


def broken(*args, **kwargs):
    raise RuntimeError("injected fault")


@pytest.mark.parametrize("planted", ["link as the log", "link as the folder"])
def test_the_log_never_follows_a_planted_link(cli, tmp_path, monkeypatch, planted):
    """Someone else plants a link where the log goes; the CLI writes nothing through it."""
    from attnviz.zoo import classifier

    victim = tmp_path / "victim"
    victim.write_text("precious")
    folder = tmp_path / f"attnviz-{os.getuid()}"
    if planted == "link as the log":
        folder.mkdir(mode=0o700)
        (folder / "cli.log").symlink_to(victim)
    else:
        elsewhere = tmp_path / "elsewhere"
        elsewhere.mkdir()
        folder.symlink_to(elsewhere)
    monkeypatch.setattr(cli_module, "LOG", folder / "cli.log")
    monkeypatch.setattr(classifier, "run", broken)
    code, _, err = cli(*TEXT, "--out", str(tmp_path / "t.npz"))
    assert code == 1 and one_line(err) and "could not be logged" in err
    assert victim.read_text() == "precious"
    assert not (tmp_path / "elsewhere" / "cli.log").exists()


def test_the_log_goes_to_a_folder_of_this_users_own(cli, tmp_path, monkeypatch):
    from attnviz.zoo import classifier

    log = tmp_path / "shared-tmp" / f"attnviz-{os.getuid()}" / "cli.log"
    log.parent.parent.mkdir()
    monkeypatch.setattr(cli_module, "LOG", log)
    monkeypatch.setattr(classifier, "run", broken)
    code, _, err = cli(*TEXT, "--out", str(tmp_path / "t.npz"))
    assert code == 1 and one_line(err)
    assert log.parent.stat().st_mode & 0o777 == 0o700 and log.stat().st_mode & 0o777 == 0o600
    assert "RuntimeError: injected fault" in log.read_text()
    assert str(cli_module.LOG.parent.name) == f"attnviz-{os.getuid()}"
