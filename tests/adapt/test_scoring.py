"""Answer scorers: numeric (commas, $, %, fractions via math-verify), MCQ letters, code pass/fail/timeout, free."""
from __future__ import annotations

import pytest

from datachef.adapt import scoring
from datachef.errors import DatachefError

GSM = r"####\s*(.+)$"


@pytest.mark.parametrize("completion, gold, correct", [
    ("3 + 4 = 7\n#### 7", "3 + 4 = 7\n#### 7", True),
    ("She pays 1000 dollars.\n#### $1,000", "#### 1000", True),
    ("The total is $18.00.", "#### 18", True),
    ("So the answer is 1,234,567.", "#### 1234567", True),
    ("Half of it: \\boxed{\\frac{1}{2}}", "#### 0.5", True),
    ("#### 3/4", "#### 0.75", True),
    ("That is 50% of the class.", "#### 50%", True),
    ("It is 7 apples, not 8.\n#### 8", "#### 7", False),
    ("I do not know.", "#### 7", False),
    ("#### -5", "#### -5", True),
    ("#### 42 apples", "#### 42", True),
])
def test_numeric(completion, gold, correct):
    assert scoring.score_numeric(completion, gold, GSM).correct is correct


def test_numeric_extraction_order_and_gold_pattern():
    # '####' wins over later numbers; without any marker the last number counts.
    assert scoring.extract_numeric_answer("#### 12\nCheck: 3 * 4 = 12, 99") == "12"
    assert scoring.extract_numeric_answer("3 + 4 = 7, then 7 * 2 = 14") == "14"
    assert scoring.extract_numeric_answer("no digits here") is None
    assert scoring.gold_numeric_answer("a\n#### 1,000", GSM) == "1,000"
    assert scoring.gold_numeric_answer(42, None) == "42"
    assert scoring.numeric_equal("1000", "1,000.0")
    assert not scoring.numeric_equal("7", None)


def test_math_verify_equivalence_beyond_plain_numbers():
    assert scoring.numeric_equal("\\frac{3}{4}", "0.75")
    assert scoring.numeric_equal("\\sqrt{4}", "2")
    assert not scoring.numeric_equal("\\frac{1}{3}", "0.5")


CHOICES = ["Paris", "London", "Berlin", "Madrid"]


@pytest.mark.parametrize("completion, letter", [
    ("B", "B"), ("(C)", "C"), ("The answer is (D).", "D"), ("Answer: A", "A"), ("answer is b", None),
    ("B. London", "B"), ("I think the capital is Berlin.", "C"), ("A train leaves at noon.", None),
    ("It must be Paris", "A"), ("", None),
])
def test_mcq_letter_extraction(completion, letter):
    assert scoring.extract_letter(completion, CHOICES) == letter


def test_mcq_gold_forms_and_scoring():
    assert scoring.gold_letter("C", CHOICES) == "C"
    assert scoring.gold_letter("(b)", CHOICES) == "B"
    assert scoring.gold_letter(3, CHOICES) == "D"
    assert scoring.gold_letter("0", CHOICES) == "A"
    assert scoring.gold_letter("Berlin", CHOICES) == "C"
    with pytest.raises(ValueError):
        scoring.gold_letter("Rome", CHOICES)
    with pytest.raises(ValueError):
        scoring.gold_letter(7, CHOICES)
    assert scoring.score_mcq("The answer is C", "C", CHOICES).correct
    assert not scoring.score_mcq("The answer is C", "A", CHOICES).correct
    assert scoring.format_mcq("Capital of France?", CHOICES).splitlines()[-1] == "D. Madrid"


HUMANEVAL = {
    "prompt": 'def add(a, b):\n    """Return a + b."""\n',
    "entry_point": "add",
    "test": "def check(candidate):\n    assert candidate(2, 3) == 5\n    assert candidate(-1, 1) == 0\n",
}


def test_code_humaneval_pass_fail_timeout():
    body = "    return a + b\n"
    full = "```python\ndef add(a, b):\n    return a + b\n```"
    assert scoring.score_code(body, HUMANEVAL, "prompt").extracted == "passed"
    assert scoring.score_code(full, HUMANEVAL, "prompt").correct
    assert scoring.score_code("    return a - b\n", HUMANEVAL, "prompt").extracted == "failed"
    assert scoring.score_code("    raise SystemExit(3)\n", HUMANEVAL, "prompt").extracted == "failed"
    slow = "    while True:\n        pass\n"
    assert scoring.score_code(slow, HUMANEVAL, "prompt", timeout=1).extracted == "timeout"


def test_code_mbpp_layout_and_missing_tests():
    item = {"text": "Write add.", "test_list": ["assert add(1, 2) == 3"]}
    assert scoring.score_code("def add(a, b):\n    return a + b", item, "text").correct
    assert not scoring.score_code("def add(a, b):\n    return 0", item, "text").correct
    with pytest.raises(DatachefError, match="no tests"):
        scoring.build_program("pass", {"prompt": "x"}, "prompt")


def test_code_extraction():
    assert scoring.extract_code("Sure:\n```python\nx = 1\n```\nDone") == "x = 1\n"
    assert scoring.extract_code("```\ny = 2\n") == "y = 2\n"
    assert scoring.extract_code("z = 3") == "z = 3"


def test_free_text_exact_match():
    assert scoring.score_free("The Eiffel Tower.", "the eiffel tower").correct
    assert scoring.score_free("Let me think.\nAnswer: Blue whale", "blue whale").correct
    assert not scoring.score_free("Paris", "London").correct


def test_bare_latex_is_read_whole():
    assert scoring.numeric_equal("3\\sqrt{2}", "3\\sqrt{2}")
    assert not scoring.numeric_equal("3\\sqrt{2}", "3")
