"""`python -m attnviz.train NAME [options]`: run one model's recipe (options: NAME --help)."""

import importlib
import sys

from attnviz.train import RECIPES

if len(sys.argv) < 2 or sys.argv[1] not in RECIPES:
    sys.exit(f"usage: python -m attnviz.train NAME [options]; NAME is one of {', '.join(RECIPES)}")
importlib.import_module(RECIPES[sys.argv[1]]).main(sys.argv[1], sys.argv[2:])
