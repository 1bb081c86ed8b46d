"""The fast loop's lists (tests/conftest.py: SLOW, TRAINING) name tests that exist: a renamed or
moved test would otherwise slip back into `make fast` unnoticed."""

from pathlib import Path

from conftest import SLOW, TRAINING

HERE = Path(__file__).resolve().parent


def test_every_slow_and_training_entry_names_a_test():
    for entry in sorted(SLOW | TRAINING):
        module, _, name = entry.partition("::")
        path = HERE / module
        assert path.is_file(), entry
        assert not name or f"def {name}(" in path.read_text(encoding="utf-8"), entry
