"""python -m attnviz.train NAME [--out DIR] [--steps N]"""

import argparse
import importlib
import sys
from pathlib import Path

from attnviz.loading import trained
from attnviz.train import RECIPES


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m attnviz.train", description=__doc__)
    parser.add_argument("name", choices=sorted(RECIPES))
    parser.add_argument("--out", type=Path, help="folder to write (default models/NAME/)")
    parser.add_argument("--steps", type=int, help="stop after this many batches (a quick check)")
    args = parser.parse_args(argv)
    recipe = importlib.import_module(RECIPES[args.name])
    recipe.train(args.name, args.out or trained.model_dir(args.name), steps=args.steps)
    return 0


if __name__ == "__main__":
    sys.exit(main())
