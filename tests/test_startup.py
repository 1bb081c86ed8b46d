"""The start page imports neither torch nor pandas: the first page that needs them does."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_start_page_modules_do_not_import_torch_or_pandas():
    code = (
        "import sys, streamlit, attnviz.i18n, attnviz.ui.common\n"
        "print(sorted(m for m in ('torch', 'pandas') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]", out.stdout
