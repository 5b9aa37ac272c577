"""answers/ sits low in the import graph: the verifier, evaluation and the ops import it, never the reverse."""
from __future__ import annotations

import subprocess
import sys


def test_answers_imports_no_other_datachef_package():
    code = ("import sys, datachef.answers\n"
            "print(sorted(m for m in sys.modules if m.startswith('datachef.') and not m.startswith('datachef.answers')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
