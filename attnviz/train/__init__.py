"""Recipes for the project's own models: `python -m attnviz.train NAME`.

Each recipe module has `train(name, out, steps=None) -> dict` (held-out metrics); `steps` cuts
training short (the tests run a few steps end to end).
"""

RECIPES = {
    "sentiment-zh": "attnviz.train.sentiment",
    "sentiment-en": "attnviz.train.sentiment",
    "lstm-zh": "attnviz.train.sentiment",
    "lstm-en": "attnviz.train.sentiment",
    "digits": "attnviz.train.digits",
}
