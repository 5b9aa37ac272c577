"""Deterministic checkers that need ground truth or can derive it: math answer equivalence (math-verify) against the
source row's gold answer, arithmetic consistency of worked solutions, MCQ letter validity, code run against tests.

Each checker returns a `CheckResult` with status 'pass', 'fail' or 'skip' (nothing to check against). Only 'fail'
is evidence against an instance; 'skip' never counts either way.
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..errors import SourceError
from ..spec import TaskSpec
from .arithmetic import _evaluate, check_arithmetic, close
from .sandbox import run_python


@dataclass
class CheckResult:
    name: str
    status: str  # "pass" | "fail" | "skip"
    detail: str = ""
    reference: str | None = None  # the answer the checker holds to be right, when it has one

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# -- final answers --------------------------------------------------------------------------------------------
_BOXED = re.compile(r"\\boxed\{((?:[^{}]|\{[^{}]*\})*)\}")
_ANSWER_IS = re.compile(r"(?:final answer|answer)\s*(?:is|:)\s*[:\s]*\$?\s*(-?[\d][\d,]*(?:\.\d+)?(?:/\d+)?)", re.I)
_HASHES = re.compile(r"####\s*(.+?)\s*$", re.M)
_NUM = re.compile(r"-?\d[\d,]*(?:\.\d+)?")
_BARE_NUMBER = re.compile(r"\$?-?\d[\d,]*(?:\.\d+)?(?:/\d+)?\.?")


def extract_answer(text: str, answer_pattern: str | None = None) -> str | None:
    """The final answer stated in `text`: the benchmark's `answer_pattern` (last match) when given, else a '#### N'
    line, a LaTeX \\boxed{}, or 'the answer is N'. None when the text states no final answer."""
    patterns = [re.compile(answer_pattern, re.M)] if answer_pattern else []
    patterns.append(_HASHES)
    for p in patterns:
        hits = list(p.finditer(text))
        if hits:
            m = hits[-1]
            value = (m.group(1) if m.groups() else m.group()).strip()
            if value:
                return value.rstrip(".").strip()
    boxed = _BOXED.findall(text)
    if boxed:
        return boxed[-1].strip()
    said = _ANSWER_IS.findall(text)
    if said:
        return said[-1].strip()
    if _BARE_NUMBER.fullmatch(text.strip()):  # the whole reply is the answer (benchmarks that want a bare number)
        return text.strip().rstrip(".")
    return None


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


_STATES_ANSWER = re.compile(r"\b(?:final answer|answer|result)\b\s*(?:is|:|=)|####|\\boxed\{", re.I)


def states_an_answer(text: str) -> bool:
    """Whether `text` concludes with an answer of any form ("the answer is B", "Answer: Paris", "#### x"): a reply
    that does is finished, even when its answer is not in the benchmark's form."""
    return bool(_STATES_ANSWER.search(text)) or bool(_BARE_NUMBER.fullmatch(text.strip()))


def _math_parse(text: str) -> list:
    from math_verify import parse

    return parse(text if "$" in text or "\\" in text else f"${text}$") or parse(text)


def answers_equivalent(gold: str, predicted: str) -> bool | None:
    """math-verify's equivalence of two answers; None when either does not parse as math."""
    from math_verify import verify

    g, p = _math_parse(gold), _math_parse(predicted)
    if not g or not p:
        return None
    return bool(verify(g, p))


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
    try:
        got = float(predicted.replace(",", "").replace("$", "").rstrip("."))
    except ValueError:
        return CheckResult("expression", "fail", f"final answer '{predicted}' is not a number; {expr} = {ref}", ref)
    decimals = len(predicted.rstrip(".").split(".")[1]) if "." in predicted.rstrip(".") else None
    if close(value, got, decimals):
        return CheckResult("expression", "pass", f"{expr} = {ref}", ref)
    return CheckResult("expression", "fail", f"final answer '{predicted}' but {expr} = {ref}", ref)


# -- MCQ ------------------------------------------------------------------------------------------------------
_OPTION_LINE = re.compile(r"^\s*\(?([A-J])[).:]\s+\S", re.M)
_LETTER_PATTERNS = [
    re.compile(r"(?:answer|option|choice)\s*(?:is|:)?\s*\(?\**([A-J])\**\)?(?![A-Za-z])", re.I),
    re.compile(r"####\s*\(?([A-J])\)?\s*$", re.M),
    re.compile(r"^\s*\(?([A-J])\)?[.):]?\s*$", re.M),  # a line holding only the letter
    re.compile(r"^\s*\(?([A-J])[.):]\s", re.M),  # "B. Paris" as the reply
]


def extract_letter(response: str, answer_pattern: str | None = None) -> str | None:
    if answer_pattern:
        hits = re.findall(answer_pattern, response, re.M)
        for h in reversed(hits):
            h = (h[0] if isinstance(h, tuple) else h).strip().strip("().*").upper()
            if len(h) == 1 and h.isalpha():
                return h
    for p in _LETTER_PATTERNS:
        hits = p.findall(response)
        if hits:
            return hits[-1].upper()
    return None


def check_mcq(response: str, question: str, gold: str | None = None, n_choices: int | None = None,
              answer_pattern: str | None = None) -> CheckResult:
    """The response must pick one letter among the options the question offers (A-D when it lists none), and match
    the gold letter when there is one."""
    listed = sorted(set(_OPTION_LINE.findall(question)))
    valid = listed or [chr(ord("A") + i) for i in range(n_choices or 4)]
    letter = extract_letter(response, answer_pattern)
    if letter is None:
        return CheckResult("mcq", "fail", "the response picks no option letter", gold)
    if letter not in valid:
        return CheckResult("mcq", "fail", f"'{letter}' is not one of the options {', '.join(valid)}", gold)
    if gold is not None and gold.strip().upper() in valid and letter != gold.strip().upper():
        return CheckResult("mcq", "fail", f"picked {letter} but the gold answer is {gold.strip().upper()}", gold)
    return CheckResult("mcq", "pass", f"picked {letter}" + (" (gold)" if gold else ""), gold)


# -- code -----------------------------------------------------------------------------------------------------
_FENCE = re.compile(r"```[ \t]*(?:python|py|python3)?[ \t]*\n(.*?)```", re.S | re.I)


def extract_code(response: str) -> str | None:
    """The last fenced code block, or the whole response when it reads as Python source."""
    blocks = _FENCE.findall(response)
    if blocks:
        return max(blocks[-1:], key=len).strip("\n")
    if re.search(r"^\s*(def|class|import|from)\s", response, re.M):
        return response
    return None


def code_test_program(code: str, row: dict[str, Any] | None) -> str | None:
    """The candidate code followed by the tests of its source row (HumanEval `test` + `entry_point`, MBPP
    `test_list`/`test_setup_code`, or a `tests` list/string); None when the row has no tests."""
    if not row:
        return None
    entry = row.get("entry_point")
    if isinstance(row.get("test"), str) and row["test"].strip():
        prompt = row.get("prompt")
        if entry and f"def {entry}" not in code and isinstance(prompt, str):
            code = prompt + code  # a body-only completion of the prompt's signature
        call = f"\ncheck({entry})\n" if entry and "def check(" in row["test"] else "\n"
        return f"{code}\n\n{row['test']}{call}"
    tests = row.get("test_list") or row.get("tests")
    if isinstance(tests, str) and tests.strip():
        tests = [tests]
    if isinstance(tests, list) and tests and all(isinstance(t, str) for t in tests):
        setup = row.get("test_setup_code") or ""
        return "\n".join([code, "", setup, *tests, ""])
    return None


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
    for name in ANSWER_FIELDS:
        value = row.get(name)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str) or not value.strip():
            continue
        value = value.strip()
        if fmt == "mcq":
            letter = value.strip("() .").upper()
            if len(letter) == 1 and "A" <= letter <= "J":
                return letter, f"source field '{name}'"
            continue
        if fmt in ("numeric", "free"):
            final = value if len(value) <= 40 and "\n" not in value else extract_answer(value, answer_pattern)
            if final is not None and _NUM.search(final) and _math_parse(final):
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
