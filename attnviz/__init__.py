"""attnviz: see attention, with the real numbers at every step.

In a notebook, any model's attention (attnviz/api.py):

    attnviz.view(tokens, attentions, view="heatmap", layer=1, head=1)   # a plotly Figure
    attnviz.save("mine.npz", tokens, attentions)                        # for the open page

Importing attnviz loads nothing: the API is imported on first use (no torch, no streamlit).
"""

_API = ("view", "save", "load", "attentions_of", "from_bertviz")


def __getattr__(name: str):
    if name in _API:
        from attnviz import api

        return getattr(api, name)
    raise AttributeError(f"module 'attnviz' has no attribute {name!r}")
