"""Recipes for the project's own models: `python -m attnviz.train NAME [options]`.

RECIPES maps a model name to the module whose `main(name, argv)` trains it.
"""

RECIPES = {
    "dates-additive": "attnviz.train.dates",
    "dates-general": "attnviz.train.dates",
    "sentiment-zh": "attnviz.train.sentiment",
    "sentiment-en": "attnviz.train.sentiment",
    "lstm-zh": "attnviz.train.sentiment",
    "lstm-en": "attnviz.train.sentiment",
    "digits": "attnviz.train.digits",
}
