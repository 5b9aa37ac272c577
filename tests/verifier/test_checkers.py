"""Checkers: arithmetic consistency, gold answers, provenance gold, MCQ letters, code tests (reading and comparing
answers and the sandbox itself are tested in tests/answers)."""
from __future__ import annotations

import pytest

from datachef.verifier.arithmetic import check_arithmetic
from datachef.verifier.checkers import check_code, check_math_answer, check_mcq, gold_answer, provenance_matches

RIGHT = ("Combining Monday and Tuesday, Michael has 198 pears + 90 pears = 288 pears.\n"
         "On Wednesday, he picks 2 * 198 pears = 396 pears.\n"
         "Altogether, Michael has 288 pears + 396 pears = 684 pears.\n#### 684")


# -- arithmetic -----------------------------------------------------------------------------------------------
def test_consistent_solution_passes():
    r = check_arithmetic(RIGHT)
    assert r.status == "pass" and len(r.equations) == 3 and r.last_result == 684 and r.final == 684


def test_changed_final_answer_fails_even_when_the_sentence_agrees():
    wrong = RIGHT.replace("= 684 pears", "= 694 pears").replace("#### 684", "#### 694")
    r = check_arithmetic(wrong)
    assert r.status == "fail" and "288 + 396" in r.detail() and "684" in r.detail()


def test_final_line_disagreeing_with_last_result_fails():
    r = check_arithmetic(RIGHT.replace("#### 684", "#### 680"))
    assert r.status == "fail" and r.final_matches is False and "differs" in r.detail()


def test_wrong_intermediate_step_fails():
    r = check_arithmetic(RIGHT.replace("2 * 198 pears = 396", "2 * 198 pears = 386"))
    assert r.status == "fail" and len(r.wrong) == 1


@pytest.mark.parametrize("text", [
    "There are 2*2 = 4 white bricks\nSo 8 - 4 - 2 = 2 orange bricks\n#### 2",
    "tennis balls:88 * 0.5=44\nwhite tennis balls:44*0.25=11 balls\n#### 11",
    "Each duck needs 8 kilograms * 2 - 8 = 8 kilograms/duck\n"
    "Ducks: 8 kilograms/duck * 45 duck = 360 kilograms\n#### 360",
    "She pays $1,200 + $300 = $1,500 in total.\n#### 1500",
    "That is 50% of 88 = 44 balls.\n#### 44",
    "Jill earned 3*$10 = $<<3*10=30>>30\nJohn earned 7*10 = $<<7*10=70>>70\n#### 70",
    "He needs 27 x 2 = 54 sticks.\n54 / 8 = 6.75 packs, rounded up to 7.\n#### 7",
    "A share is 10 / 3 = 3.33 dollars.\n#### 3.33",
    "12/20 x 100% = 60% of the students.\n#### 60",
])
def test_realistic_solutions_pass(text):
    assert check_arithmetic(text).status == "pass", check_arithmetic(text).detail()


def test_algebra_and_prose_are_skipped_not_guessed():
    r = check_arithmetic("Let x be the price. Then 3x + 4 = 28, so x = 8.\n#### 8")
    assert r.status == "skip"
    assert check_arithmetic("He walked for a long time.\n#### 12").status == "skip"
    # An unreadable equation after the last checked one: the final answer is not compared with an earlier result.
    r = check_arithmetic("He has 5 + 3 = 8 cards.\nNow 2/3 * x = 12, so x = 18.\n#### 18")
    assert r.status == "pass" and r.final_checked is False


# -- answers --------------------------------------------------------------------------------------------------
def test_gold_answer_checker():
    assert check_math_answer("12", "12.0").status == "pass"
    res = check_math_answer("13", "12")
    assert res.status == "fail" and res.reference == "12"
    assert check_math_answer("12", None).status == "skip"
    assert check_math_answer(None, "12").status == "fail"
    assert check_math_answer("", "12").status == "skip"  # nothing to compare as math


def test_a_right_answer_with_units_is_right():
    # math-verify alone read '18 dollars' as the product 18·d·o·l·l·a·r·s, so a right answer failed the checker.
    assert check_math_answer("18 dollars", "18").status == "pass"


def test_provenance_and_gold_from_source_row():
    row = {"question": "Maria buys 3 boxes with 4 pens each. How many pens?", "solution": "3*4=12\n#### 12",
           "answer": "12"}
    user = "Maria buys 3 boxes with 4 pens each. How many pens?"
    assert gold_answer(row, "numeric", None, user, 0.6) == ("12", "source field 'answer'")
    # A rewritten problem (new numbers) gets no gold answer.
    assert gold_answer(row, "numeric", None, user.replace("3", "5"), 0.6)[0] is None
    assert not provenance_matches("completely different words here", user, 0.6)
    # A worked solution as the only answer field: its final answer is used.
    assert gold_answer({"input": user, "output": "3*4=12\n#### 12"}, "numeric", None, user, 0.6)[0] == "12"
    # A letter is not a numeric gold answer; for an MCQ task it is.
    mc = {"question": user, "answer": "B"}
    assert gold_answer(mc, "numeric", None, user, 0.6)[0] is None
    assert gold_answer(mc, "mcq", None, user, 0.6)[0] == "B"


def test_mcq_gold_index_and_option_text():
    # As evaluation reads a benchmark's gold: a 0-based index (MMLU's int answers) or the text of a listed option;
    # the verifier used to accept letters only, so such rows gave no gold.
    user = "Which planet is largest?\nA. Mars\nB. Jupiter\nC. Venus\nD. Earth"
    assert gold_answer({"question": user, "answer": 1}, "mcq", None, user, 0.6)[0] == "B"
    assert gold_answer({"question": user, "answer": "Jupiter"}, "mcq", None, user, 0.6)[0] == "B"
    assert gold_answer({"question": user, "answer": "Pluto"}, "mcq", None, user, 0.6)[0] is None
    # A digit string is more likely a numeric answer than an index; an index needs the options listed.
    assert gold_answer({"question": user, "answer": "1"}, "mcq", None, user, 0.6)[0] is None
    bare = "Which planet is largest?"
    assert gold_answer({"question": bare, "answer": 1}, "mcq", None, bare, 0.6)[0] is None


# -- MCQ ------------------------------------------------------------------------------------------------------
Q = "Which planet is largest?\nA. Mars\nB. Jupiter\nC. Venus\nD. Earth"


def test_mcq_letters():
    assert check_mcq("The answer is B.", Q, gold="B").status == "pass"
    assert check_mcq("The answer is C.", Q, gold="B").status == "fail"
    assert "not one of the options" in check_mcq("The answer is F.", Q).detail
    assert check_mcq("Jupiter is the largest.", Q).status == "fail"
    assert check_mcq("Answer: E", "Pick one: A. x\nB. y\nC. z\nD. w\nE. v").status == "pass"


# -- code -----------------------------------------------------------------------------------------------------
ROW = {"prompt": "def add(a, b):\n", "entry_point": "add",
       "test": "def check(candidate):\n    assert candidate(2, 3) == 5\n    assert candidate(-1, 1) == 0\n"}


def test_code_passing_and_failing():
    good = "Here you go:\n```python\ndef add(a, b):\n    return a + b\n```"
    assert check_code(good, ROW).status == "pass"
    bad = "```python\ndef add(a, b):\n    return a - b\n```"
    res = check_code(bad, ROW)
    assert res.status == "fail" and "AssertionError" in res.detail
    assert check_code("```python\ndef add(a, b) return\n```", ROW).detail.startswith("the code does not compile")
    assert check_code("I cannot write code.", ROW).status == "fail"
    # MBPP-style assert lists.
    mbpp = {"test_list": ["assert add(1, 2) == 3"]}
    assert check_code(good, mbpp).status == "pass"
    assert check_code(good, None).status == "skip"


def test_infinite_loop_times_out():
    res = check_code("```python\ndef add(a, b):\n    while True:\n        pass\n```", ROW, timeout_s=1.0)
    assert res.status == "fail" and "timed out" in res.detail


def test_code_keeps_the_prompts_imports():
    row = {"prompt": "from typing import List\n\n\ndef total(xs: List[int]) -> int:\n    \"\"\"Sum.\"\"\"\n",
           "entry_point": "total", "test": "def check(candidate):\n    assert candidate([2, 3]) == 5\n"}
    # The verifier ran a whole function without the prompt, so `List` was undefined: a right reply failed.
    assert check_code("```python\ndef total(xs: List[int]) -> int:\n    return sum(xs)\n```", row).status == "pass"
