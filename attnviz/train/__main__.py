"""`python -m attnviz.train NAME [options]`: run one model's recipe (options: NAME --help)."""

from __future__ import annotations

import importlib
import sys

from attnviz.train import RECIPES


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] not in RECIPES:
        names = ", ".join(RECIPES)
        print(f"usage: python -m attnviz.train NAME [options]; NAME: {names}", file=sys.stderr)
        return 2
    importlib.import_module(RECIPES[argv[0]]).main(argv[0], argv[1:])
    return 0


if __name__ == "__main__":
    sys.exit(main())
