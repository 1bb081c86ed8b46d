"""The project's trained classifiers: strict loading, the accuracy their CARD.md states on the
held-out data, attention against plain-torch references, and bad input."""

from __future__ import annotations

import functools
import io
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file, save_file
from torch.nn import functional as F

from attnviz import digit_images
from attnviz.errors import InputError
from attnviz.loading import data, trained
from attnviz.train.sentiment import evaluate
from attnviz.zoo import classifier, cnn_attention

TEXT_MODELS = ("sentiment-zh", "sentiment-en", "lstm-zh", "lstm-en")
SOURCE = {"zh": "reviews-zh", "en": "tweets-en"}
ROOT = Path(__file__).resolve().parents[1]
SAMPLE = 600  # held-out texts checked per model: seconds, not minutes
# Each model read once for the module: the zoo keeps no cache (the UI's is attnviz/ui/cache.py).
load_classifier = functools.cache(classifier.load)
load_digits = functools.cache(cnn_attention.load)


def stated_accuracy(name: str) -> float:
    card = (trained.model_dir(name) / "CARD.md").read_text("utf-8")
    return float(re.search(r"Accuracy \*\*([0-9.]+)\*\*", card).group(1))


def png(array: np.ndarray) -> bytes:
    out = io.BytesIO()
    Image.fromarray(array).save(out, "PNG")
    return out.getvalue()


@pytest.mark.parametrize("language", ["zh", "en"])
def test_the_two_classifiers_of_a_language_share_one_tokenizer(language):
    """The sentiment page overlays the two models' weights token by token."""
    pooling = (trained.model_dir(f"sentiment-{language}") / "tokenizer.json").read_bytes()
    assert pooling == (trained.model_dir(f"lstm-{language}") / "tokenizer.json").read_bytes()


@pytest.mark.parametrize("name", TEXT_MODELS)
def test_text_model_reaches_its_stated_accuracy(name):
    loaded = load_classifier(name)
    texts, labels = data.texts(SOURCE[loaded.config.language], "held_out")
    rows = classifier.encode(loaded.tokenizer, texts[:SAMPLE], loaded.config.max_tokens)
    accuracy = (evaluate(loaded.model, rows, loaded.device) == labels[:SAMPLE]).mean()
    # 600 of the held-out texts: within 4 points (about 2 standard errors) of the full set's
    assert accuracy >= stated_accuracy(name) - 0.04, accuracy


@pytest.mark.xfail(
    strict=True,
    reason="issue #10 asks for >= 88 % on the Chinese reviews; the held-out split gives "
    "82.5 % (attention pooling, early stopping) and 83.6 % (LSTM): see models/*-zh/CARD.md",
)
def test_chinese_models_reach_88_percent():
    assert min(stated_accuracy("sentiment-zh"), stated_accuracy("lstm-zh")) >= 0.88


def test_digits_reach_97_percent_held_out():
    loaded = load_digits()
    images, labels = data.digits("held_out")
    pixels = torch.as_tensor(images, dtype=torch.float32)[:, None] / 255
    with torch.no_grad():
        predicted = loaded.model(pixels.to(loaded.device))[0].argmax(dim=1).cpu().numpy()
    accuracy = (predicted == labels).mean()
    assert accuracy >= 0.97 and accuracy == pytest.approx(stated_accuracy("digits"), abs=1e-4)


@pytest.mark.parametrize("name", TEXT_MODELS + ("digits",))
def test_loading_is_strict(name, tmp_path):
    path = trained.model_dir(name) / "model.safetensors"
    tensors = load_file(str(path))
    module = (
        cnn_attention.DigitsCNN(load_digits().config)
        if name == "digits"
        else classifier.Classifier(load_classifier(name).config)
    )
    trained.load_strict(module, path)  # the real file loads
    first = sorted(tensors)[0]
    broken = {
        "missing": {k: v for k, v in tensors.items() if k != first},
        "extra": {**tensors, "stray.weight": torch.zeros(2)},
        "shape": {**tensors, first: torch.zeros(*tensors[first].shape[:-1], 1)},
        "nan": {**tensors, first: torch.full_like(tensors[first], float("nan"))},
        "dtype": {**tensors, first: tensors[first].double()},
    }
    for why, content in broken.items():
        save_file(content, str(tmp_path / f"{why}.safetensors"))
        with pytest.raises(ValueError):
            trained.load_strict(module, tmp_path / f"{why}.safetensors")


@pytest.mark.parametrize("name", ("sentiment-zh", "lstm-en"))
def test_text_attention_equals_a_plain_torch_reference(name):
    """softmax over the tokens of w·x, the weighted sum and fc, written with torch's own ops."""
    loaded = load_classifier(name)
    model = loaded.model
    sentence = "质量很好，物流也快" if name.endswith("zh") else "I really love this phone"
    trace = classifier.trace(load_classifier(name), sentence)
    ids = torch.tensor([loaded.tokenizer.encode(sentence).ids])
    with torch.no_grad():
        x = model.embedding(ids)  # (1, T, D)
        if model.config.kind == "lstm":
            x, _ = model.lstm(x)
        weights = torch.softmax(x[0] @ model.score.weight[0], dim=0)  # (T,)
        context = weights @ x[0]  # (D,)
        logits = model.fc(context)
    np.testing.assert_allclose(trace.step.weights[0], weights.numpy(), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(trace.step.context[0], context.numpy(), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(trace.logits, logits.numpy(), rtol=1e-4, atol=1e-5)
    assert trace.step.weights.sum() == pytest.approx(1.0, abs=1e-6)
    np.testing.assert_allclose(
        trace.probabilities, torch.softmax(logits.double(), 0).numpy(), rtol=1e-5
    )


def test_padding_gets_no_weight_and_changes_nothing():
    loaded = load_classifier("lstm-zh")
    rows = classifier.encode(loaded.tokenizer, ["很好", "这本书写得不错，推荐购买"], 256)
    ids, allowed = classifier.batch(rows)
    with torch.no_grad():
        logits, steps = loaded.model(ids, allowed)
        alone, _ = loaded.model(ids[:1, : len(rows[0])], allowed[:1, : len(rows[0])])
    assert (steps.weights[0, 0, len(rows[0]) :] == 0).all()
    torch.testing.assert_close(logits[:1], alone)


def test_digit_attention_equals_torch_sdpa():
    images, _ = data.digits("held_out")
    trace = cnn_attention.trace(load_digits(), images[0].astype(np.float32) / 255)
    q, k, v = (torch.as_tensor(np.array(getattr(trace.step, n))) for n in "qkv")
    with torch.no_grad():
        context = F.scaled_dot_product_attention(q[None], k[None], v[None])[0]
    np.testing.assert_allclose(trace.step.context, context.numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(trace.step.weights.sum(axis=1), 1.0, atol=1e-5)
    assert trace.step.weights.shape == (49, 49)


@pytest.mark.parametrize(
    ("sentence", "key"),
    [
        ("", "error.text_empty"),
        ("   \n ", "error.text_empty"),
        ("！？。，……", "error.sentiment_no_words"),
        ("😀🎉👍", "error.sentiment_no_words"),
        ("很" * 100_000, "error.text_too_long"),
    ],
)
@pytest.mark.parametrize("name", ("sentiment-zh", "lstm-en"))
def test_bad_text_gets_a_message(name, sentence, key):
    with pytest.raises(InputError) as info:
        classifier.trace(load_classifier(name), sentence)
    assert info.value.key == key


def test_other_language_is_a_best_effort_or_a_message():
    """English read by a Chinese model is a best effort the page labels by its script; Chinese
    has no piece in the English vocabulary, so the English models say they know no word."""
    trace = classifier.trace(load_classifier("sentiment-zh"), "great book")
    assert trace.probabilities.sum() == pytest.approx(1.0)
    assert classifier.script_share("great book") == 0.0
    assert classifier.script_share("这本书写得很好 ok") == pytest.approx(7 / 9)
    with pytest.raises(InputError) as info:
        classifier.trace(load_classifier("sentiment-en"), "这本书写得很好")
    assert info.value.key == "error.sentiment_no_words"


def test_long_text_is_cut_and_says_how_much():
    trace = classifier.trace(load_classifier("sentiment-en"), "good " * 400)
    assert len(trace.tokens) == 256 and trace.dropped == 144


def test_drawn_digits_survive_the_round_trip():
    """Held-out digits as dark ink on a large white picture come back as the same digit."""
    images, labels = data.digits("held_out")
    chosen = range(0, 500, 25)
    right = 0
    for i in chosen:
        big = np.asarray(Image.fromarray(255 - images[i]).resize((200, 200)))
        pixels, notices = digit_images.from_bytes(png(big))
        assert notices == () and pixels.shape == (28, 28)
        right += cnn_attention.trace(load_digits(), pixels).prediction == labels[i]
    assert right >= 18, right


@pytest.mark.parametrize(
    ("picture", "key"),
    [
        (np.full((280, 280), 255, np.uint8), "error.digit_blank"),  # blank white canvas
        (np.zeros((100, 100), np.uint8), "error.digit_blank"),  # all black
        (np.full((1, 1), 128, np.uint8), "error.image_too_small"),  # 1 × 1
    ],
)
def test_pictures_without_a_digit_get_a_message(picture, key):
    with pytest.raises(InputError) as info:
        digit_images.from_bytes(png(picture))
    assert info.value.key == key


def test_a_photo_is_a_labelled_best_effort():
    photo = (ROOT / "assets" / "images" / "astronaut.jpg").read_bytes()
    pixels, notices = digit_images.from_bytes(photo)
    assert [n.key for n in notices] == ["notice.digit_not_digit"]
    assert cnn_attention.trace(load_digits(), pixels).probabilities.sum() == pytest.approx(1.0)


def test_not_an_image_gets_a_message():
    with pytest.raises(InputError) as info:
        digit_images.from_bytes(b"this is not a picture")
    assert info.value.key == "error.image_not_image"
