"""Test programs for code answers (HumanEval, MBPP, plain asserts) and the sandboxed runner."""
from __future__ import annotations

import time

from datachef.answers import code_test_program, run_python

HUMANEVAL = {
    "prompt": 'from typing import List\n\n\ndef total(xs: List[int]) -> int:\n    """Sum of xs."""\n',
    "entry_point": "total",
    "test": "def check(candidate):\n    assert candidate([2, 3]) == 5\n    assert candidate([]) == 0\n",
}


def run(code: str, item: dict, **kw) -> str:
    return run_python(code_test_program(code, item), timeout_s=kw.pop("timeout_s", 10), **kw).status


def test_humaneval_body_and_whole_function():
    assert run("    return sum(xs)\n", HUMANEVAL) == "passed"
    assert run("    return 0\n", HUMANEVAL) == "failed"
    assert run("def total(xs: List[int]) -> int:\n    return sum(xs)\n", HUMANEVAL) == "passed"
    assert run("    def total(xs):\n        return sum(xs)\n", HUMANEVAL) == "passed"  # an indented block, dedented


def test_a_whole_function_keeps_the_prompts_imports():
    # The verifier ran a completion defining the entry point without the prompt: `List` was undefined there.
    program = code_test_program("def total(xs: List[int]) -> int:\n    return sum(xs)\n", HUMANEVAL)
    assert program.startswith("from typing import List") and program.count("def total(") == 1


def test_a_prompt_without_a_docstring_is_not_prepended_unfinished():
    # Evaluation prepended the whole prompt: 'def add(a, b):' without a body made the program a SyntaxError.
    row = {"prompt": "def add(a, b):\n", "entry_point": "add", "test": "def check(c):\n    assert c(2, 3) == 5\n"}
    assert run("def add(a, b):\n    return a + b\n", row) == "passed"


def test_check_is_called_only_when_the_tests_define_it():
    # Evaluation always appended check(entry_point): a `test` of plain asserts then failed with a NameError.
    row = {"entry_point": "add", "test": "assert add(2, 3) == 5\n"}
    assert "check(" not in code_test_program("def add(a, b):\n    return a + b\n", row)
    assert run("def add(a, b):\n    return a + b\n", row) == "passed"


def test_mbpp_and_plain_test_lists():
    mbpp = {"text": "Write add.", "test_list": ["assert add(1, 2) == 3"], "test_setup_code": "import math"}
    program = code_test_program("def add(a, b):\n    return a + b", mbpp)
    assert program.index("import math") < program.index("def add")  # the setup first: the code may need it too
    assert run("def add(a, b):\n    return a + b", mbpp) == "passed"
    assert run("def add(a, b):\n    return 0", mbpp) == "failed"
    assert run("def add(a, b):\n    return a + b", {"tests": "assert add(1, 1) == 2"}) == "passed"
    assert code_test_program("x = 1", {"prompt": "x"}) is None and code_test_program("x = 1", None) is None


def test_runner_statuses():
    assert run_python("raise SystemExit(3)", timeout_s=5).status == "failed"
    r = run_python("assert 1 == 2", timeout_s=5)
    assert r.status == "failed" and "AssertionError" in r.stderr and r.returncode == 1
    assert run_python("while True:\n    pass\n", timeout_s=1).status == "timeout"


def test_sandbox_limits_memory_and_isolates_cwd(tmp_path):
    r = run_python("x = bytearray(2_000_000_000)", memory_mb=256, timeout_s=5)
    assert r.status == "failed" and "MemoryError" in r.stderr
    r = run_python("import os; print(os.getcwd()); open('f.txt', 'w').write('x')", timeout_s=5)
    assert r.passed and "datachef-sandbox-" in r.stdout and not (tmp_path / "f.txt").exists()


def test_children_left_behind_are_killed_and_do_not_stall_the_run(tmp_path):
    # A background child keeps the program's stdout open: the verifier's runner read pipes to EOF, so it waited
    # for such a child to end (up to the timeout) and left it running; evaluation's runner killed it.
    marker = tmp_path / "late"
    child = f"import time; time.sleep(1); open({str(marker)!r}, 'w')"
    code = f"import subprocess, sys\nsubprocess.Popen([sys.executable, '-c', {child!r}])\n"
    start = time.monotonic()
    r = run_python(code, timeout_s=10)
    assert r.passed and time.monotonic() - start < 5
    time.sleep(1.5)
    assert not marker.exists()
