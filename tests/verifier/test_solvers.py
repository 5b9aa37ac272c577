"""Solvers: questions that determine their own answer are checked against the answer computed from the question, so
a wrong answer that the source row itself carries is caught (the pool-wide check is in tests/pool/test_pool.py)."""
from __future__ import annotations

import pytest

from datachef.verifier import VerifierConfig
from datachef.verifier.run import verify_run
from datachef.verifier.solvers import check_solvable, solve, stated_answer

from .conftest import ScriptedJudge, chat, free_task

SUDOKU_Q = ("In 4x4 Mini Sudoku:\n- Each row must contain each number from 1-4 exactly once\nSolve this 4x4 Mini "
            "Sudoku puzzle:\n1 _ 4 3\n_ 3 1 _\n_ _ _ _\n3 4 _ _\nFormat your response as the puzzle above.\n")
SUDOKU = "1 2 4 3\n4 3 1 2\n2 1 3 4\n3 4 2 1"
COURSES = ("There are a total of 3 courses you have to take, labeled from 0 to 2.\n\nYou are given the following list "
           "of prerequisites, where prerequisites[i] = (a_i, b_i) indicates that you must first take course b_i if "
           "you want to take course a_i:\n{edges}\n\nReturn True if you can finish all courses considering the "
           "prerequisites, or False otherwise.\n")
PATH = "Now, find the shortest path from * to # in the following grid:\n{grid}\n"
SORT = ("Now, sort these words in descending order (using ASCII/Unicode ordering) and return them as a "
        "comma-separated list: gathering, One, comply, Incredible\n")

# (question, a right answer, a wrong one): the wrong ones are the kind a volunteer-typed or corrupted copy carries
CASES = [
    ("Now, convert the base-7 number 2216 to base-6\n", "3405", "602"),
    ("Now, convert the binary number 11111111 to hexadecimal\n", "ff", "fe"),
    ("How many 1 bits are there in the binary representation of the number 435447450?", "16", "15"),
    ("Find the prime factorization of 198. Write the factors separated by ×", "2 × 3 × 3 × 11", "2 × 99"),
    ("Find the Greatest Common Divisor (GCD) of these numbers: 172, 284. Give only the GCD.", "4", "2"),
    ("Find the Least Common Multiple (LCM) of these numbers: 4, 6", "12", "24"),
    ("Simplify the fraction $\\dfrac{3818}{11500}$ to its lowest terms.", "$\\dfrac{83}{250}$", "$\\dfrac{83}{251}$"),
    ("Simplify the fraction 14100/16100 to its lowest terms.", "141/161", "141/160"),
    ("Determine the value of y that satisfies: 19*y + 58 = 704", "34", "89"),
    ("Solve for a: 127 - 31*a = -2353", "80", "57"),
    ("Decrypt this Caesar cipher text: WQMXL LEW XS TIVJSVQ. Provide only the decrypted text as your final answer.",
     "SMITH HAS TO PERFORM", "NIGHT HAS TO PERFORM"),
    ("Spell this word backward (example: sun -> nus): indictee", "eetcidni", "eetcidn"),
    (SORT, "gathering, comply, One, Incredible", "gathering, comply, Incredible, One"),
    (COURSES.format(edges="[(1, 0), (2, 1)]"), "True", "False"),
    (COURSES.format(edges="[(1, 0), (0, 2), (2, 1)]"), "False", "True"),
    (SUDOKU_Q, SUDOKU, SUDOKU.replace("2 1 3 4", "2 1 4 3")),
    (PATH.format(grid="* O X\nX O #"), "right down right", "down right right"),  # through a wall
    (PATH.format(grid="* O O\nO O #"), "down right right", "right right down right"),  # not the shortest
    (PATH.format(grid="* X #\nO X O"), "infeasible", "down right right"),
]


@pytest.mark.parametrize("question,right,wrong", CASES, ids=[c[0][:30] for c in CASES])
def test_the_right_answer_passes_and_a_wrong_one_fails_with_the_reference(question, right, wrong):
    ok = check_solvable(question, right)
    assert ok.status == "pass", ok.detail
    bad = check_solvable(question, wrong)
    assert bad.status == "fail" and bad.reference == ok.reference, bad.detail


@pytest.mark.parametrize("question,answer", [
    ("Now, convert the base-5 number 1022 to hexadecimal\n", "0X89"),  # 137: case and a 0x prefix
    ("Find the prime factorization of 48. Use exponents where possible.", "2^4 × 3"),
    ("Find the prime factorization of 48.", "3 * 2 * 2 * 2 * 2"),  # any order, any multiplication sign
    ("Simplify the fraction 6/8 to its lowest terms.", "\\frac{3}{4}"),
    ("Solve for m: 10*m - 100 = 260", "m = 36"),
    ("Decrypt this Caesar cipher text: IQZQIT. Provide only the decrypted text as your final answer.", "AËRIAL"),
    (COURSES.format(edges="[(1, 0)]"), "yes"),
])
def test_equivalent_forms_of_the_right_answer_pass(question, answer):
    assert check_solvable(question, answer).status == "pass"


def test_a_worked_reply_is_read_by_its_final_answer_line():
    q = "Solve for a: 127 - 31*a = -2353"
    assert check_solvable(q, "127 - 31a = -2353, so 31a = 2480.\nAnswer: 80").status == "pass"
    assert check_solvable(q, "127 - 31a = -2353, so 31a = 2480.\n#### 57").status == "fail"


def test_fractions_not_in_lowest_terms_fail():
    assert check_solvable("Simplify the fraction 6/8 to its lowest terms.", "6/8").status == "fail"


@pytest.mark.parametrize("question", [
    "Tom has 3 apples and buys 4 more. How many apples does he have?",
    "Solve for x: x*x = 4",  # not linear: no unique answer to compute
    "Write the prime factorization of 48.\nA. 4 • 8\nB. 2^4 • 3\nC. 6 • 8\nD. 2^3 • 3^2",  # the MCQ checker's
])
def test_questions_no_solver_recognises_are_not_checked(question):
    assert check_solvable(question, "B") is None


def test_a_reply_without_a_readable_answer_is_skipped():
    r = check_solvable("Solve for a: 127 - 31*a = -2353", "First move 127 over.\nThen divide by -31.")
    assert r.status == "skip" and r.reference == "80"


def test_stated_answer_reads_strict_forms_or_a_one_line_reply():
    assert stated_answer("5 × 73") == "5 × 73"
    assert stated_answer("Factor it.\nThe answer is 5 × 73.") == "5 × 73"
    assert stated_answer("Factor it.\nIt is 5 × 73.") is None
    assert solve("What is the capital of France?") is None


def test_the_verifier_grades_a_wrong_answer_the_source_itself_carries_incorrect(tmp_path, write_run):
    """The source row says 602 (so the gold checker agrees with it); the question determines 3405."""
    bench = [{"question": f"Now, convert the base-{b} number {n} to base-10\n", "answer": str(int(n, b))}
             for b, n in [(2, "101"), (3, "21"), (4, "33"), (5, "44"), (6, "55"), (7, "66")]]
    rows = [{"question": "Now, convert the base-7 number 2216 to base-6\n", "answer": a} for a in ("3405", "602")]
    task = free_task(tmp_path, "bases", "Convert numbers between bases.", bench, "volunteers", rows, dev=3)
    out = write_run([chat(r["question"], r["answer"], "volunteers", i) for i, r in enumerate(rows)])

    report = verify_run(out, task, judge=ScriptedJudge())
    got = {i.index: (i.grade, i.decided_by) for i in report.instances}
    assert got == {0: ("Pass", "judge"), 1: ("Incorrect", "checker")}
    wrong = next(i for i in report.instances if i.index == 1)
    assert "solver checker" in wrong.reason and wrong.reference_answer == "3405"

    off = verify_run(out, task, judge=ScriptedJudge(), config=VerifierConfig(solver_check=False))
    assert {i.index: i.grade for i in off.instances} == {0: "Pass", 1: "Pass"}  # the blind spot it closes
