"""Scoring one completion at evaluation: numeric (commas, $, %, fractions via math-verify), MCQ letters, code
pass/fail/timeout, free text — `datachef.answers` read leniently, with the benchmark's gold."""
from __future__ import annotations

import pytest

from datachef.adapt import AdaptError
from datachef.adapt.evaluate import score_item
from datachef.spec import TaskSpec

GSM = r"####\s*(.+)$"


def task(fmt: str, fields: dict | None = None, pattern: str | None = None) -> TaskSpec:
    return TaskSpec.model_validate({
        "name": "t", "instruction": "x", "sources": [{"id": "s", "uri": "s.jsonl"}],
        "benchmark": {"name": "b", "format": fmt, "source": {"id": "b", "uri": "b.jsonl"}, "fields": fields or {},
                      "answer_pattern": pattern}})


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
    ("#### 15 days, 19:17", "#### 15", False),  # several numbers: not the leading one
    ("#### 50%", "#### 50", True),  # evaluation compared 50% as 1/2 only
])
def test_numeric(completion, gold, correct):
    assert score_item(task("numeric", pattern=GSM), {"question": "q", "answer": gold}, completion).correct is correct


def test_numeric_extraction_and_gold():
    t = task("numeric", pattern=GSM)
    s = score_item(t, {"question": "q", "answer": "a\n#### 1,000"}, "3 + 4 = 7, then 7 * 2 = 14")
    assert (s.extracted, s.gold, s.correct) == ("14", "1,000", False)  # without a marker the last number counts
    assert score_item(t, {"question": "q", "answer": 42}, "no digits here").extracted is None
    assert score_item(task("numeric"), {"question": "q", "answer": 42}, "#### 42").gold == "42"
    # A MATH-style solution without the benchmark's pattern: its boxed answer is the gold, not the whole text.
    assert score_item(task("numeric"), {"question": "q", "answer": "so \\boxed{4}"}, "It is 4").correct


CHOICES = {"question": "q", "answer": "ans", "choices": ["a", "b", "c", "d"]}
ITEM = {"q": "Capital of Germany?", "a": "Paris", "b": "London", "c": "Berlin", "d": "Madrid"}


def test_mcq():
    t = task("mcq", CHOICES)
    assert score_item(t, {**ITEM, "ans": "C"}, "The answer is C").correct
    assert not score_item(t, {**ITEM, "ans": "A"}, "The answer is C").correct
    assert score_item(t, {**ITEM, "ans": 2}, "I think the capital is Berlin.").correct
    with pytest.raises(ValueError):
        score_item(t, {**ITEM, "ans": "Rome"}, "C")


HUMANEVAL = {
    "prompt": 'def add(a, b):\n    """Return a + b."""\n',
    "entry_point": "add",
    "test": "def check(candidate):\n    assert candidate(2, 3) == 5\n    assert candidate(-1, 1) == 0\n",
}


def test_code_humaneval_pass_fail_timeout():
    t = task("code", {"question": "prompt", "answer": "canonical_solution"})
    assert score_item(t, HUMANEVAL, "    return a + b\n").extracted == "passed"
    assert score_item(t, HUMANEVAL, "```python\ndef add(a, b):\n    return a + b\n```").correct
    assert score_item(t, HUMANEVAL, "    return a - b\n").extracted == "failed"
    assert score_item(t, HUMANEVAL, "    raise SystemExit(3)\n").extracted == "failed"
    assert score_item(t, HUMANEVAL, "    while True:\n        pass\n", code_timeout=1).extracted == "timeout"


def test_code_mbpp_layout_and_missing_tests():
    t = task("code", {"question": "text", "answer": "code"})
    item = {"text": "Write add.", "test_list": ["assert add(1, 2) == 3"]}
    assert score_item(t, item, "def add(a, b):\n    return a + b").correct
    assert not score_item(t, item, "def add(a, b):\n    return 0").correct
    with pytest.raises(AdaptError, match="no tests"):
        score_item(t, {"text": "x", "code": "pass"}, "pass")


def test_free_text_exact_match():
    t = task("free")
    assert score_item(t, {"question": "q", "answer": "the eiffel tower"}, "The Eiffel Tower.").correct
    assert score_item(t, {"question": "q", "answer": "blue whale"}, "Let me think.\nAnswer: Blue whale").correct
    assert not score_item(t, {"question": "q", "answer": "London"}, "Paris").correct
