"""Where the files that travel with attnviz are: models/, assets/ and the app's entry script.

A clone keeps them at the repository's top level, beside the package; `pip install` puts them
inside the package (pyproject.toml maps them to attnviz/models, attnviz/assets, attnviz/entry).
Both are found from the package's own location, at call time: importing reads nothing.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def _package() -> Path:
    return Path(str(resources.files("attnviz")))


def folder(name: str) -> Path:
    """ "models" or "assets": inside the installed package, else the clone's top level."""
    inside = _package() / name
    return inside if inside.is_dir() else _package().parent / name


def app_script() -> Path:
    """The Streamlit entry script (app.py); its folder also holds .streamlit/config.toml."""
    inside = _package() / "entry" / "app.py"
    return inside if inside.is_file() else _package().parent / "app.py"
