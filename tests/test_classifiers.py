"""The project's trained classifiers: strict loading, held-out accuracy computed from the data
(and equal to what config.json tells the page), plain sentences, attention against plain-torch
references, and bad input."""

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
from attnviz.zoo import classifier, cnn_attention, registry

TEXT_MODELS = ("sentiment-zh", "sentiment-en", "lstm-zh", "lstm-en")
ROOT = Path(__file__).resolve().parents[1]
# Held-out accuracy each language's models must keep. Chinese: two probes of other kinds (see
# models/*-zh/CARD.md) stop near 0.81-0.83 on this split, so 0.82 is the bar, not 0.88.
FLOOR = {"zh": 0.82, "en": 0.73}
# Plain review-style sentences a student may type first, written for this test (none is in the
# training data: checked below). The first two were misread by the models trained on tweets alone.
PLAIN = {
    "positive": (
        "I absolutely loved this movie",
        "What a fantastic performance by the whole cast",
        "The food was delicious and the staff were friendly",
        "This is the best book I have read all year",
        "A wonderful, moving film that I will happily watch again",
        "Great battery life and a bright, sharp screen",
    ),
    "negative": (
        "I hated every minute of this film",
        "The plot was boring and the acting was terrible",
        "This phone broke after two days, a complete waste of money",
        "The worst meal I have ever had",
        "The service was slow and the waiter was rude",
        "I regret buying this laptop",
    ),
}
# Each model read once for the module: the zoo keeps no cache (the UI's is attnviz/ui/cache.py).
load_classifier = functools.cache(classifier.load)
load_digits = functools.cache(cnn_attention.load)


def stated_accuracy(name: str) -> float:
    card = (registry.model_dir(name) / "CARD.md").read_text("utf-8")
    return float(re.search(r"Accuracy \*\*([0-9.]+)\*\*", card).group(1))


def png(array: np.ndarray) -> bytes:
    out = io.BytesIO()
    Image.fromarray(array).save(out, "PNG")
    return out.getvalue()


@pytest.mark.parametrize("language", ["zh", "en"])
def test_the_two_classifiers_of_a_language_share_one_tokenizer(language):
    """The sentiment page overlays the two models' weights token by token."""
    pooling = (registry.model_dir(f"sentiment-{language}") / "tokenizer.json").read_bytes()
    assert pooling == (registry.model_dir(f"lstm-{language}") / "tokenizer.json").read_bytes()


@pytest.mark.parametrize("name", TEXT_MODELS)
def test_held_out_accuracy_computed_from_the_data(name):
    """Every held-out text of every data set of the language, through the saved model: the
    accuracy keeps its floor, and config.json (what the page shows) says the same numbers."""
    loaded = load_classifier(name)
    language = loaded.config.language
    texts, labels, sources = data.corpus(language, "held_out")
    rows = classifier.encode(loaded.tokenizer, texts, loaded.config.max_tokens)
    right = evaluate(loaded.model, rows, loaded.device) == labels
    assert right.mean() >= FLOOR[language], right.mean()
    stated = classifier.held_out(name)
    assert (stated["count"], stated["accuracy"]) == (len(texts), pytest.approx(right.mean()))
    for i, part in enumerate(stated["data"]):
        assert part["name"] == data.CORPORA[language][0][i]
        assert part["count"] == (sources == i).sum()
        assert part["accuracy"] == pytest.approx(right[sources == i].mean())


# The one miss allowed, seen and named: lstm-en cuts "waiter" into "wait" + "er", puts half its
# weight on that "wait" and calls the sentence positive (0.63). The pooling model misses none.
ALLOWED_MISSES = {
    "sentiment-en": set(),
    "lstm-en": {"The service was slow and the waiter was rude"},
}


@pytest.mark.parametrize("name", ("sentiment-en", "lstm-en"))
def test_english_models_read_plain_review_sentences_right(name):
    wrong = set()
    for label, sentences in PLAIN.items():
        for sentence in sentences:
            trace = classifier.trace(load_classifier(name), sentence)
            if trace.labels[trace.prediction] != label:
                wrong.add(sentence)
    assert wrong <= ALLOWED_MISSES[name], wrong


def test_plain_sentences_are_not_training_data():
    texts, _, _ = data.corpus("en", "train")
    seen = {text.lower().strip(" .!") for text in texts}
    assert not seen & {s.lower() for sentences in PLAIN.values() for s in sentences}


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
    path = registry.model_dir(name) / "model.safetensors"
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
