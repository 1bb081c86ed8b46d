"""Every recipe runs end to end for a few steps and writes a model that loads strictly."""

from __future__ import annotations

import json

import pytest

from attnviz.loading import trained
from attnviz.train.__main__ import main
from attnviz.zoo import classifier, cnn_attention

pytestmark = pytest.mark.training


@pytest.mark.parametrize("name", ["sentiment-zh", "sentiment-en", "lstm-zh", "lstm-en", "digits"])
def test_recipe_runs_a_few_steps(name, tmp_path, capsys):
    assert main([name, "--out", str(tmp_path), "--steps", "3"]) == 0
    assert "held-out accuracy" in capsys.readouterr().out
    names = {p.name for p in tmp_path.iterdir()}
    assert {"model.safetensors", "config.json", "CARD.md"} <= names
    config = json.loads((tmp_path / "config.json").read_text("utf-8"))
    assert config["name"] == name
    if name == "digits":
        module = cnn_attention.DigitsCNN(trained.as_config(cnn_attention.DigitsConfig, config))
    else:
        assert "tokenizer.json" in names
        module = classifier.Classifier(
            trained.as_config(classifier.ClassifierConfig, config, ["held_out"])
        )
    trained.load_strict(module, tmp_path / "model.safetensors")
    card = (tmp_path / "CARD.md").read_text("utf-8")
    assert "python -m attnviz.train " + name in card
    if name.startswith("sentiment"):  # pooling: a slice of the training texts picks the epoch
        assert "validation slice" in card and "held out" in card
