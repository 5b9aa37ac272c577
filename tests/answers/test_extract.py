"""Reading answers out of text: final answers (strict for training replies, lenient for completions), option
letters, code blocks."""
from __future__ import annotations

import pytest

from datachef.answers import (extract_answer, extract_code, extract_letter, format_mcq, listed_options,
                              states_an_answer)

GSM = r"####\s*(.+)$"


# -- final answers --------------------------------------------------------------------------------------------
def test_final_answer_forms():
    assert extract_answer("work\n#### 1,688", GSM) == "1,688"
    assert extract_answer("so \\boxed{\\frac{1}{2}}") == "\\frac{1}{2}"
    assert extract_answer("Thus the answer is 42.") == "42"
    assert extract_answer("The answer is $\\frac{1}{2}$.") == "\\frac{1}{2}"
    assert extract_answer("so the answer = 5") == "5"
    assert extract_answer("#### 42 apples") == "42 apples"  # as written: compare.py reads the number in it
    assert extract_answer("no answer here") is None


def test_the_benchmark_pattern_and_the_last_marker_win():
    assert extract_answer("#### 12\nCheck: 3 * 4 = 12, 99", lenient=True) == "12"
    assert extract_answer("Result -> 12, from 3 * 4 = 12 and 99 more", r"Result -> (\d+)", lenient=True) == "12"
    assert extract_answer("#### 5\nNo wait.\n#### 6") == "6"


def test_boxed_reads_nested_braces_whole():
    # The verifier's regex allowed one level of nesting; '\frac{\sqrt{2}}{2}' has two.
    assert extract_answer("so \\boxed{\\frac{\\sqrt{2}}{2}}.") == "\\frac{\\sqrt{2}}{2}"


def test_a_reply_that_is_only_a_number_states_that_answer():
    assert extract_answer("-23") == "-23" and extract_answer(" 1,250. ") == "1,250"
    assert states_an_answer("42") and not states_an_answer("I think about 42 or so")
    assert states_an_answer("The answer is B") and extract_answer("The answer is B") is None


def test_strict_reading_for_records_lenient_for_completions():
    # A training reply must state its answer; a model's completion is read like lm-eval's flexible extract.
    assert extract_answer("I think about 42 or so") is None
    assert extract_answer("I think about 42 or so", lenient=True) == "42"
    assert extract_answer("3 + 4 = 7, then 7 * 2 = 14", lenient=True) == "14"
    assert extract_answer("no digits here", lenient=True) is None


def test_free_text_answers():
    assert extract_answer("Let me think.\nAnswer: Blue whale", numeric=False, lenient=True) == "Blue whale"
    assert extract_answer("The Eiffel Tower.", numeric=False, lenient=True) == "The Eiffel Tower."
    assert extract_answer("The Eiffel Tower.", numeric=False) is None


# -- option letters -------------------------------------------------------------------------------------------
CHOICES = ["Paris", "London", "Berlin", "Madrid"]


@pytest.mark.parametrize("completion, letter", [
    ("B", "B"), ("(C)", "C"), ("The answer is (D).", "D"), ("Answer: A", "A"), ("answer is b", None),
    ("B. London", "B"), ("I think the capital is Berlin.", "C"), ("A train leaves at noon.", None),
    ("It must be Paris", "A"), ("", None), ("The answer is **C**", "C"), ("I'd go with B", "B"),
])
def test_letters_of_a_completion(completion, letter):
    assert extract_letter(completion, "ABCD", lenient=True, choices=CHOICES) == letter


def test_letters_of_a_training_reply():
    assert extract_letter("The answer is (B).") == "B"
    assert extract_letter("B") == "B"
    assert extract_letter("The answer is F.") == "F"  # any of A-J: the MCQ checker says it is not an option
    assert extract_letter("Jupiter is the largest.") is None
    # Strict: a reply that only names an option, or has a letter standing alone, picks none; a training reply
    # must pick a letter as the benchmark's answers do (and 'B' may be a variable: 'we know B + 24 = 60').
    assert extract_letter("It must be Paris", choices=CHOICES) is None
    assert extract_letter("We know B + 24 = 60, so B = 36.") is None
    assert extract_letter("We know B + 24 = 60, so B = 36.", lenient=True) == "B"
    assert extract_letter("Final: (c)", answer_pattern=r"Final: (\S+)") == "C"


def test_the_last_stated_letter_wins_and_articles_are_not_letters():
    # Evaluation took the first match, the verifier the last: a reply that corrects itself means the last one.
    assert extract_letter("The answer is A. Wait, no: the answer is C.", "ABCD") == "C"
    # The verifier read any case after "answer is": 'a' here is an article, not option A.
    assert extract_letter("I think the answer is a prime number.") is None


def test_options_layout_round_trip():
    q = format_mcq("Capital of France?", CHOICES)
    assert q.splitlines()[-1] == "D. Madrid"
    assert listed_options(q) == dict(zip("ABCD", CHOICES))
    assert listed_options("Which?\n(A) x\n(B) y") == {"A": "x", "B": "y"} and listed_options("no options") == {}


# -- code blocks ----------------------------------------------------------------------------------------------
def test_code_blocks():
    assert extract_code("Sure:\n```python\nx = 1\n```\nDone") == "x = 1\n"
    assert extract_code("```\ny = 2\n") == "y = 2\n"  # an unclosed block (a truncated reply) runs to the end
    assert extract_code("def f():\n    return 1") == "def f():\n    return 1"  # unfenced Python source
    assert extract_code("I cannot write code.") is None
    # A completion continuing a code prompt (a HumanEval body) is all code.
    assert extract_code("    return a + b\n", lenient=True) == "    return a + b\n"


def test_the_first_code_block_is_the_solution():
    # The verifier took the last block: here that is the usage example, which fails when run alone.
    reply = ("```python\ndef add(a, b):\n    return a + b\n```\nUsage:\n```python\nprint(add(2, 3))\n```")
    assert extract_code(reply) == "def add(a, b):\n    return a + b\n"
