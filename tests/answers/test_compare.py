"""Comparing answers: exact plain numbers, math-verify for the rest, the number a stated answer gives, MCQ gold
letters, free text."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from datachef.answers import (answer_number, answers_equivalent, gold_letter, normalise_number, number_value,
                              texts_equal)


@pytest.mark.parametrize("gold, predicted, same", [
    ("1688", "1,688", True), ("1000", "1,000.0", True), ("18", "$18.00", True), ("1234567", "1,234,567", True),
    ("0.75", "3/4", True), ("12", "12.", True), ("849", "850", False), ("-5", "-5", True),
    ("0.5", "\\frac{1}{2}", True), ("\\frac{3}{4}", "0.75", True), ("\\sqrt{4}", "2", True),
    ("\\frac{1}{3}", "0.5", False), ("B", "C", False), ("7", "3 + 4", True),
])
def test_answers_equivalent(gold, predicted, same):
    assert answers_equivalent(gold, predicted) is same


def test_cannot_compare_is_none_not_false():
    assert answers_equivalent("7", "") is None and answers_equivalent("12", "\\$18") is None


def test_bare_latex_is_read_whole():
    # The verifier's math-verify call read '3\sqrt{2}' (no $...$) as 3.
    assert answers_equivalent("3\\sqrt{2}", "3\\sqrt{2}") is True
    assert answers_equivalent("3\\sqrt{2}", "3") is False


def test_words_around_the_number():
    # The verifier gave '18 dollars' to math-verify (18·d·o·l·l·a·r·s: wrong); evaluation took a span's last number
    # whatever surrounded it. A number with only words around it is the answer; with other numbers, none of them.
    assert answers_equivalent("18", "18 dollars") is True
    assert answers_equivalent("42", "The total is 42") is True
    assert answers_equivalent("15", "15 days, 19:17") is False


def test_percent_against_a_plain_number():
    # Evaluation compared '50%' as 1/2 only, so '#### 50%' against GSM8K's gold '50' was wrong; math-verify takes
    # either reading, and so does the exact comparison now.
    assert answers_equivalent("50", "50%") is True and answers_equivalent("50%", "0.5") is True
    assert answers_equivalent("50%", "50%") is True and answers_equivalent("50", "0.5") is False


def test_math_verify_off_the_main_thread():
    # math-verify's timeouts use SIGALRM, which only the main thread may set: elsewhere they are off, not a crash.
    with ThreadPoolExecutor(1) as pool:
        assert pool.submit(answers_equivalent, "\\frac{3}{4}", "0.75").result() is True


@pytest.mark.parametrize("text, number", [
    ("42", "42"), ("42 apples", "42"), ("$1,200 in total", "$1,200"), ("x = 5", "5"), ("(5)", "5"),
    ("7 apples, not 8", None), ("3 + 4", None), ("3x", None), ("x - 5", None), ("\\frac{1}{2}", None),
    ("50 %", None), ("forty-two", None), ("1,250.", "1,250"), ("", None),
])
def test_answer_number(text, number):
    assert answer_number(text) == number


@pytest.mark.parametrize("text, expected", [
    ("18", "18"), ("$1,234.50", "1234.5"), ("7.0", "7"), ("-3 apples", "-3"), ("none", None), ("-$5", "-5"),
    ("50%", "50"),
    # The ops' own normaliser took the first run of digits anywhere: '3/4' became '3', '.5' became '5' and
    # '\frac{1}{2}' became '1'.
    ("3/4", "3/4"), (".5", "0.5"), ("\\frac{1}{2}", None),
])
def test_normalise_number(text, expected):
    assert normalise_number(text) == expected


def test_number_value():
    assert number_value("3/4 cup") == (0.75, False) and number_value("50%") == (50.0, True)
    assert number_value("n/a") is None


def test_gold_letters():
    choices = ["Paris", "London", "Berlin", "Madrid"]
    assert gold_letter("C", choices) == "C" and gold_letter("(b)", choices) == "B"
    assert gold_letter("(D).", choices) == "D"
    assert gold_letter(3, choices) == "D" and gold_letter("0", choices) == "A"
    assert gold_letter("Berlin", choices) == "C"
    for bad in ("Rome", 7, True, "E"):
        with pytest.raises(ValueError):
            gold_letter(bad, choices)


def test_free_text():
    assert texts_equal("the eiffel tower", "The Eiffel Tower.")
    assert not texts_equal("London", "Paris")
