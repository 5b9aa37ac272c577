"""Deterministic checkers that need ground truth or can derive it: answer equivalence against the source row's gold
answer, arithmetic consistency of worked solutions, MCQ letter validity, code run against tests.

Reading and comparing answers (final answers, letters, code, numbers, the sandboxed runner) is `datachef.answers`,
shared with evaluation; this module holds what is the verifier's own: the checkers, how much working a reply shows,
and gold answers found through a record's provenance.

Each checker returns a `CheckResult` with status 'pass', 'fail' or 'skip' (nothing to check against). Only 'fail'
is evidence against an instance; 'skip' never counts either way.
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..answers import (OPTION_LETTERS, answer_number, answers_equivalent, code_test_program, extract_answer,
                       extract_code, extract_letter, gold_letter, listed_options, number_value, parse_math, run_python)
from ..errors import SourceError
from ..spec import TaskSpec
from .arithmetic import _evaluate, check_arithmetic, close


@dataclass
class CheckResult:
    name: str
    status: str  # "pass" | "fail" | "skip"
    detail: str = ""
    reference: str | None = None  # the answer the checker holds to be right, when it has one

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# -- answers --------------------------------------------------------------------------------------------------
# An answer "shows its work" when, besides its final-answer line, it has at least this many words
# ('12 + 5 = 17' has 5; a bare '17' or '#### 17' has none).
MIN_WORKING_WORDS = 3


def working_words(text: str, answer_pattern: str | None = None) -> int:
    """Words of `text` outside its final-answer lines (a '#### N' line or a line the benchmark's `answer_pattern`
    matches): 0 for a bare answer, the length of the working for a worked solution."""
    final = [re.compile(answer_pattern)] if answer_pattern else []
    final.append(re.compile(r"^\s*####"))
    lines = str(text).splitlines()
    body = [ln for ln in lines if not any(p.search(ln) for p in final)]
    if len(body) == len(lines) == 1:  # a one-line answer with no final-answer marker is the answer itself
        return 0
    return sum(len(ln.split()) for ln in body)


def check_math_answer(predicted: str | None, gold: str | None) -> CheckResult:
    if gold is None:
        return CheckResult("gold_answer", "skip", "no gold answer for this instance")
    if predicted is None:
        return CheckResult("gold_answer", "fail", "the response states no final answer", gold)
    same = answers_equivalent(gold, predicted)
    if same is None:
        return CheckResult("gold_answer", "skip", f"cannot compare '{predicted}' with gold '{gold}' as math", gold)
    if same:
        return CheckResult("gold_answer", "pass", f"'{predicted}' equals the gold answer", gold)
    return CheckResult("gold_answer", "fail", f"final answer '{predicted}' but the gold answer is '{gold}'", gold)


def check_arithmetic_consistency(response: str, final: str | None) -> CheckResult:
    report = check_arithmetic(response, final)
    ref = None if report.last_result is None else f"{report.last_result:g}"
    return CheckResult("arithmetic", report.status, report.detail(), ref)


_EXPRESSION = re.compile(r"[-(\s]*\d[\d.]*(?:\s*[-+*/()]+\s*\(*\s*-?\d[\d.]*\s*\)*)+")
_ASKS = re.compile(r"^\s*(?:calculate|compute|evaluate|what is|solve|find|state the final answer to the following "
                   r"arithmetic problem:?)\s*", re.I)


def question_expression(question: str) -> str | None:
    """The arithmetic expression a question asks for, when the question is nothing but one ("Calculate 4 - 1 + 7.",
    "What is (3 + 4) * 2?", "12 / 4 ="); None for anything with more words in it (word problems are not this
    checker's business)."""
    body = _ASKS.sub("", question.strip()).rstrip(" ?.=")
    m = _EXPRESSION.fullmatch(body)
    return " ".join(m.group().split()) if m else None


def check_question_expression(question: str, predicted: str | None) -> CheckResult:
    """When the question is a bare arithmetic expression, its value is the reference: the final answer must equal
    it. This catches wrong answers that a source's own answer field repeats (the gold checker cannot)."""
    expr = question_expression(question)
    value = _evaluate(expr) if expr else None
    if value is None:
        return CheckResult("expression", "skip", "the question is not a bare arithmetic expression")
    ref = f"{value:.10g}"
    if predicted is None:
        return CheckResult("expression", "skip", "the response states no final answer", ref)
    number = answer_number(predicted)
    got = number_value(number) if number is not None else None
    if got is None:
        return CheckResult("expression", "fail", f"final answer '{predicted}' is not a number; {expr} = {ref}", ref)
    decimals = len(number.rstrip("%").split(".")[1]) if "." in number else None
    written, percent = got
    # As answers_equivalent reads a percentage against a plain number: 50% is 50 or 0.5.
    if any(close(value, w, decimals) for w in ([written, written / 100] if percent else [written])):
        return CheckResult("expression", "pass", f"{expr} = {ref}", ref)
    return CheckResult("expression", "fail", f"final answer '{predicted}' but {expr} = {ref}", ref)


# -- MCQ ------------------------------------------------------------------------------------------------------
def check_mcq(response: str, question: str, gold: str | None = None, n_choices: int | None = None,
              answer_pattern: str | None = None) -> CheckResult:
    """The response must pick one letter among the options the question offers (A-D when it lists none), and match
    the gold letter when there is one."""
    listed = sorted(listed_options(question))
    valid = listed or [chr(ord("A") + i) for i in range(n_choices or 4)]
    # Any letter A-J is read, so that a letter outside the options is reported as such.
    letter = extract_letter(response, answer_pattern=answer_pattern)
    if letter is None:
        return CheckResult("mcq", "fail", "the response picks no option letter", gold)
    if letter not in valid:
        return CheckResult("mcq", "fail", f"'{letter}' is not one of the options {', '.join(valid)}", gold)
    if gold is not None and gold.strip().upper() in valid and letter != gold.strip().upper():
        return CheckResult("mcq", "fail", f"picked {letter} but the gold answer is {gold.strip().upper()}", gold)
    return CheckResult("mcq", "pass", f"picked {letter}" + (" (gold)" if gold else ""), gold)


# -- code -----------------------------------------------------------------------------------------------------
def check_code(response: str, row: dict[str, Any] | None, *, timeout_s: float = 10.0,
               memory_mb: int = 1024) -> CheckResult:
    code = extract_code(response)
    if code is None:
        return CheckResult("code", "fail", "the response contains no code")
    try:
        compile(code, "<response>", "exec")
    except SyntaxError as e:
        return CheckResult("code", "fail", f"the code does not compile: {e.msg} (line {e.lineno})")
    program = code_test_program(code, row)
    if program is None:
        return CheckResult("code", "skip", "compiles; no tests for this instance")
    result = run_python(program, timeout_s=timeout_s, memory_mb=memory_mb)
    if result.passed:
        return CheckResult("code", "pass", f"tests passed in {result.seconds:.2f}s")
    if result.status == "timeout":
        return CheckResult("code", "fail", f"tests timed out after {timeout_s:g}s")
    last = (result.stderr.strip().splitlines() or ["(no output)"])[-1]
    return CheckResult("code", "fail", f"tests failed: {last[:300]}")


# -- gold answers from the record's source row ----------------------------------------------------------------
ANSWER_FIELDS = ("answer", "final_answer", "final", "target", "gold", "label", "solution", "output", "response",
                 "completion")
_WORD = re.compile(r"[a-z]+|\d+(?:\.\d+)?")


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower().replace(",", ""))


def provenance_matches(source_question: str, user_turn: str, min_overlap: float) -> bool:
    """Whether the record still asks the source row's question: every number of it appears in the user turn and
    at least `min_overlap` of its words do. A recipe that rewrote the problem (new numbers) gets no gold."""
    q, u = _words(source_question), Counter(_words(user_turn))
    if not q:
        return False
    nums = Counter(w for w in q if w[0].isdigit())
    if any(u[n] < c for n, c in nums.items()):
        return False
    return sum(1 for w in q if u[w] > 0) / len(q) >= min_overlap


def gold_answer(row: dict[str, Any], fmt: str, answer_pattern: str | None, user_turn: str,
                min_overlap: float) -> tuple[str | None, str]:
    """(gold answer, why/where) from a source row: the first recognisable answer field, when the row's question
    (its longest other text field) matches the record's user turn. For worked solutions the final answer is
    extracted; numeric tasks need a number, MCQ tasks a letter."""
    texts = {k: v for k, v in row.items() if isinstance(v, str) and k not in ANSWER_FIELDS}
    if not texts:
        return None, "the source row has no question text"
    qfield = max(texts, key=lambda k: len(texts[k]))
    if not provenance_matches(texts[qfield], user_turn, min_overlap):
        return None, f"the record no longer asks the source row's '{qfield}'"
    options = listed_options(user_turn)
    # The options' texts in letter order (a letter the question skips has none); A-J when it lists none.
    width = max((OPTION_LETTERS.index(k) + 1 for k in options), default=len(OPTION_LETTERS))
    choices = [options.get(letter, "") for letter in OPTION_LETTERS[:width]]
    for name in ANSWER_FIELDS:
        value = row.get(name)
        if fmt == "mcq":
            # As evaluation reads a benchmark's gold (gold_letter): a letter, an option's text, or an int index
            # (MMLU's 0-based answers) when the user turn lists the options. A digit string in a training source
            # is more likely a numeric answer than an index, so it is not read as one.
            if isinstance(value, bool) or (isinstance(value, int) and not options) or \
                    (isinstance(value, str) and value.strip().isdigit()):
                continue
            try:
                return gold_letter(value, choices), f"source field '{name}'"
            except ValueError:
                continue
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str) or not value.strip():
            continue
        value = value.strip()
        if fmt in ("numeric", "free"):
            final = value if len(value) <= 40 and "\n" not in value else extract_answer(value, answer_pattern)
            if final is not None and re.search(r"\d", final) and (answer_number(final) is not None
                                                                   or parse_math(final)):
                return final, f"source field '{name}'"
    return None, "the source row has no recognisable answer field"


class SourceRows:
    """Rows of the task's sources by (source id, row index), read once per source and cached (only the rows that
    are asked for are kept)."""

    def __init__(self, task: TaskSpec, base_dir: Path | None):
        self.task, self.base_dir = task, base_dir
        self._rows: dict[str, dict[int, dict[str, Any]]] = {}
        self.errors: dict[str, str] = {}

    def prefetch(self, wanted: dict[str, set[int]]) -> None:
        """Read every wanted row in one pass per source (streamed up to the largest index)."""
        from ..sources import open_source

        for sid, rows in wanted.items():
            if sid in self._rows or sid in self.errors or not rows:
                continue
            try:
                spec = self.task.source(sid)
            except KeyError:
                self.errors[sid] = "not a source of the task"
                continue
            keep: dict[int, dict[str, Any]] = {}
            try:
                for i, row in enumerate(open_source(spec, self.base_dir).iter_rows(limit=max(rows) + 1,
                                                                                     on_malformed="skip")):
                    if i in rows:
                        keep[i] = row
            except SourceError as e:
                self.errors[sid] = str(e)
                continue
            self._rows[sid] = keep

    def get(self, source: str, row: int) -> dict[str, Any] | None:
        return self._rows.get(source, {}).get(row)
