"""The registry: every model the CLI and the pages name has one family, and every family gives
the same contract, so the CLI runs any model through one path."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

from attnviz.zoo import registry

ZOO = Path(registry.__file__).parent
CONTRACT = ("READS", "prepare", "load", "run", "npz_arrays")


FAMILIES = sorted({model.family for model in registry.MODELS.values()})


def test_every_model_has_a_family_and_files():
    for name, model in registry.MODELS.items():
        assert (ZOO / f"{model.family}.py").is_file(), name
        assert model.files and model.requirement and model.title, name


@pytest.mark.parametrize("family", FAMILIES)
def test_every_family_gives_the_contract(family):
    module = registry.family(next(n for n, m in registry.MODELS.items() if m.family == family))
    missing = [name for name in CONTRACT if not hasattr(module, name)]
    assert not missing, f"{family} lacks {missing}"
    assert module.READS in ("text", "image")
    for name in ("prepare", "run", "npz_arrays"):
        assert callable(getattr(module, name))
    assert len(inspect.signature(module.run).parameters) == 3  # (model, name, value)


def test_the_cli_never_branches_on_a_model_name_or_kind():
    """`trace` and `predict` dispatch through the registry only."""
    from attnviz import __main__ as cli

    for function in (cli.cmd_trace, cli.cmd_predict, cli.traced, cli.request_of):
        source = inspect.getsource(function)
        assert "kind" not in source and "args.model ==" not in source
        for family in FAMILIES:
            assert f"zoo import {family}" not in source and f"{family}." not in source


@pytest.mark.parametrize("path", sorted(ZOO.glob("*.py")), ids=lambda p: p.name)
def test_no_config_check_is_an_assert(path):
    """`python -O` strips asserts: a config check must raise."""
    tree = ast.parse(path.read_text("utf-8"))
    asserts = [node.lineno for node in ast.walk(tree) if isinstance(node, ast.Assert)]
    assert not asserts, f"{path.name}: assert on lines {asserts}"


def test_nothing_in_the_zoo_caches_models():
    """One cache layer, in the UI (attnviz/ui/cache.py): no functools.cache in a family."""
    for path in ZOO.glob("*.py"):
        text = path.read_text("utf-8")
        assert "functools" not in text and "@cache" not in text, path.name


def test_a_bad_seq2seq_config_raises():
    from attnviz.zoo.seq2seq import Seq2SeqConfig

    with pytest.raises(ValueError):
        Seq2SeqConfig(score="dot", input_chars="abc")
    with pytest.raises(ValueError):
        Seq2SeqConfig(score="additive", input_chars="aab")
    with pytest.raises(ValueError):
        Seq2SeqConfig(score="general", input_chars="abc", embed=0)


def test_every_config_json_becomes_a_config_one_way_and_raises_valueerror():
    """One reader for every family's config.json (loading.trained.as_config): a wrong key, a
    missing one or a bad value is a ValueError, never a TypeError."""
    from attnviz.loading.trained import as_config
    from attnviz.zoo.cnn_attention import DigitsConfig
    from attnviz.zoo.seq2seq import Seq2SeqConfig

    good = {"name": "digits", "channels": [8, 16], "key_width": 4, "classes": 10}
    config = as_config(DigitsConfig, good)
    assert config.channels == (8, 16) and hash(config)  # JSON lists become tuples: hashable
    with pytest.raises(ValueError, match="unknown keys \\['colour'\\]"):
        as_config(DigitsConfig, {**good, "colour": 1})
    assert as_config(DigitsConfig, {**good, "colour": 1}, unread=["colour"]) == config
    with pytest.raises(ValueError, match="missing keys \\['classes'\\]"):
        as_config(DigitsConfig, {k: v for k, v in good.items() if k != "classes"})
    with pytest.raises(ValueError):
        as_config(DigitsConfig, {**good, "classes": 0})
    assert as_config(Seq2SeqConfig, {"score": "general", "input_chars": "ab"}).embed == 32


@pytest.mark.parametrize(
    ("name", "request_"),
    [
        ("dinov2", registry.Request(image=b"not an image")),
        ("digits", registry.Request(image=b"")),
    ],
)
def test_bad_input_fails_before_any_model_loads(name, request_, monkeypatch):
    from attnviz.errors import InputError

    def no_load(name):
        raise AssertionError("the model was loaded for bad input")

    monkeypatch.setattr(registry.family(name), "load", no_load)
    with pytest.raises(InputError):
        registry.trace(name, request_)
