"""Questions that are bare arithmetic expressions, and how much working an answer shows (the arithmetic kitchen's
shapes; bare-number replies are tests/answers' business)."""
from __future__ import annotations

import pytest

from datachef.verifier.checkers import MIN_WORKING_WORDS, check_question_expression, question_expression, working_words


@pytest.mark.parametrize("question,expr", [
    ("Calculate 4 - 1 + 7.", "4 - 1 + 7"),
    ("What is (3 + 4) * 2?", "(3 + 4) * 2"),
    ("12 / 4 =", "12 / 4"),
    ("Calculate ( -9 / 9 ).", "( -9 / 9 )"),
    ("Calculate 2 - -1.", "2 - -1"),
    ("State the final answer to the following arithmetic problem: 4 - 1 =", "4 - 1"),
    ("Tom has 3 apples and buys 4 more. How many now?", None),  # a word problem: not this checker's business
    ("Calculate 5.", None),  # no operation
    ("Solve for e: 56 - 98*e = -1218", None),  # algebra
])
def test_question_expression(question, expr):
    assert question_expression(question) == expr


def test_expression_checker_catches_wrong_answers_the_source_repeats():
    assert check_question_expression("Calculate 23 - 28.", "-5").status == "pass"
    wrong = check_question_expression("Calculate 23 - 28.", "-6")
    assert wrong.status == "fail" and wrong.reference == "-5" and "23 - 28 = -5" in wrong.detail
    assert check_question_expression("Calculate 7 / 2.", "3.5").status == "pass"
    assert check_question_expression("Calculate 7 / 2.", "3").status == "fail"  # no rounding of a bare answer
    assert check_question_expression("Calculate 7 + 2.", "n/a").status == "fail"
    assert check_question_expression("Calculate 7 + 2.", None).status == "skip"
    assert check_question_expression("Name a prime.", "7").status == "skip"


def test_the_expression_checker_reads_the_answer_as_the_gold_checker_does():
    # It parsed the whole answer with float(): '3/4' and '42 apples' were "not a number" although right.
    assert check_question_expression("Calculate 3 / 4.", "3/4").status == "pass"
    assert check_question_expression("Calculate 40 + 2.", "42 apples").status == "pass"
    assert check_question_expression("Calculate 40 + 2.", "$42").status == "pass"


@pytest.mark.parametrize("answer,pattern,words", [
    ("17", None, 0),  # a bare answer shows no work
    ("#### 17", None, 0),
    ("The answer is 17", None, 0),  # one line: the answer itself
    ("12 + 5 = 17\n#### 17", None, 5),  # the shortest worked arithmetic answer
    ("12 + 5 = 17\n17 - 3 = 14\n#### 14", None, 10),
    ("She pays 3 * 4 = 12 dollars.\nThe answer is 12", r"answer is (\d+)", 8),  # the benchmark's own final line
])
def test_working_words_count_the_words_beside_the_final_answer_line(answer, pattern, words):
    assert working_words(answer, pattern) == words
    assert (words >= MIN_WORKING_WORDS) == (words > 0)  # the threshold separates bare from worked answers here
