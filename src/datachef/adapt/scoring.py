"""Answer scorers for benchmark evaluation: numeric exact match, MCQ letters, code pass@1, free-text exact match.

Each scorer takes the model's completion and the benchmark item's gold and returns a `Score` (correct or not, plus
what was extracted, so eval reports show why an item failed). They are pure functions of their inputs (the code
scorer runs a subprocess) and need neither torch nor a model.
"""
from __future__ import annotations

import os
import re
import signal
import string
import subprocess
import sys
import tempfile
import textwrap
import threading
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from ..errors import DatachefError

LETTERS = string.ascii_uppercase


@dataclass(frozen=True)
class Score:
    correct: bool
    extracted: str | None  # what the scorer read out of the completion (answer, letter, status of the tests)
    gold: str | None


# ---------------------------------------------------------------------------------------------------------- numeric

_NUMBER = r"-?\$?\s*\d[\d,]*(?:\.\d+)?(?:/\d+)?%?|-?\$?\s*\.\d+%?"
_HASH_ANSWER = re.compile(r"####\s*([^\n]+)")
_ANSWER_IS = re.compile(r"(?:final answer|the answer|answer)\s*(?:is|:|=)\s*([^\n]+)", re.IGNORECASE)


def _boxed(text: str) -> str | None:
    """Contents of the last \\boxed{...} (balanced braces), or None."""
    start = text.rfind("\\boxed{")
    if start < 0:
        return None
    depth, i = 0, start + len("\\boxed")
    for j in range(i, len(text)):
        if text[j] == "{":
            depth += 1
        elif text[j] == "}":
            depth -= 1
            if depth == 0:
                return text[i + 1:j]
    return None


def _last_number(text: str) -> str | None:
    found = re.findall(_NUMBER, text)
    return found[-1].strip().rstrip(",") if found else None


def extract_numeric_answer(text: str) -> str | None:
    """The model's final answer: the last `#### X` line, else the last \\boxed{X}, else 'the answer is X', else the
    last number in the text. The number inside the chosen span is returned (units and words dropped)."""
    for candidate in (
        (_HASH_ANSWER.findall(text) or [None])[-1],
        _boxed(text),
        (_ANSWER_IS.findall(text) or [None])[-1],
    ):
        if candidate is not None and candidate.strip():
            # Keep LaTeX fractions whole (math-verify compares them); otherwise take the number in the span.
            if "\\frac" in candidate:
                return candidate.strip()
            number = _last_number(candidate) if not re.fullmatch(rf"\s*(?:{_NUMBER})\s*\.?\s*", candidate) else None
            return (number or candidate).strip().rstrip(".")
    return _last_number(text)


def gold_numeric_answer(answer: Any, pattern: str | None) -> str:
    """The gold final answer: the first group of `pattern` searched in the answer field (multi-line, last match),
    else the whole field."""
    text = str(answer)
    if pattern:
        matches = list(re.finditer(pattern, text, re.MULTILINE))
        if matches:
            m = matches[-1]
            return (m.group(1) if m.groups() else m.group(0)).strip()
    return text.strip()


def _plain_number(text: str) -> Fraction | None:
    """Exact value of a plain number written with optional $, thousands commas, %, trailing '.', or a/b."""
    t = text.strip().rstrip(".").replace("$", "").replace(",", "").replace(" ", "")
    percent = t.endswith("%")
    t = t.rstrip("%")
    try:
        value = Fraction(t)
    except (ValueError, ZeroDivisionError):
        return None
    return value / 100 if percent else value


def _math_verify_equal(gold: str, pred: str) -> bool:
    try:
        from math_verify import parse, verify
    except ImportError:  # math-verify is in the `llm` extra; plain-number comparison still works without it
        return False
    # math-verify's timeouts use SIGALRM, which only the main thread may set.
    main = threading.current_thread() is threading.main_thread() and hasattr(signal, "SIGALRM")
    timeout = 5 if main else None
    # Bare LaTeX ('3\\sqrt{2}') is only read whole between math delimiters.
    gold, pred = (f"${t}$" if "\\" in t and "$" not in t else t for t in (gold, pred))
    try:
        g = parse(gold, parsing_timeout=timeout)
        p = parse(pred, parsing_timeout=timeout)
        return bool(g) and bool(p) and bool(verify(g, p, timeout_seconds=timeout))
    except Exception:  # a parser crash on odd model output is a wrong answer, not an evaluation failure
        return False


def numeric_equal(gold: str, pred: str | None) -> bool:
    """True if `pred` is the same number as `gold`: exact rational comparison of plain numbers first (handles
    '1,000', '$18.00', '50%', '3/4'), then math-verify for anything else (LaTeX fractions, expressions)."""
    if pred is None or not pred.strip():
        return False
    g, p = _plain_number(gold), _plain_number(pred)
    if g is not None and p is not None:
        return g == p
    return _math_verify_equal(gold, pred)


def score_numeric(completion: str, answer: Any, pattern: str | None = None) -> Score:
    gold = gold_numeric_answer(answer, pattern)
    pred = extract_numeric_answer(completion)
    return Score(numeric_equal(gold, pred), pred, gold)


# -------------------------------------------------------------------------------------------------------------- MCQ

def gold_letter(answer: Any, choices: list[str]) -> str:
    """Normalise an MCQ gold answer to a letter: a letter ('B', '(b)'), a 0-based index (1 or '1'), or the text of
    one of the choices."""
    n = len(choices)
    if isinstance(answer, bool):
        raise ValueError(f"MCQ answer {answer!r} is not a letter, index or choice text")
    if isinstance(answer, int):
        if 0 <= answer < n:
            return LETTERS[answer]
        raise ValueError(f"MCQ answer index {answer} is out of range for {n} choices")
    text = str(answer).strip()
    m = re.fullmatch(r"\(?([A-Za-z])[).:]?", text)
    if m and m.group(1).upper() in LETTERS[:n]:
        return m.group(1).upper()
    if text.isdigit() and int(text) < n:
        return LETTERS[int(text)]
    for i, c in enumerate(choices):
        if text == str(c).strip():
            return LETTERS[i]
    raise ValueError(f"MCQ answer {answer!r} is neither a letter A-{LETTERS[n - 1]}, an index < {n}, nor one of the "
                     f"choices")


def extract_letter(completion: str, choices: list[str]) -> str | None:
    """The option letter a completion picks: 'answer is (B)', 'Answer: B', a leading 'B', '(B)' or 'B.' / 'B)',
    else the one choice whose text the completion states; None when nothing identifies one option."""
    valid = LETTERS[:len(choices)]
    text = completion.strip()
    cls = f"[{valid}]"
    patterns = [
        rf"(?i:answer)\s*(?:(?i:is)|:)?\s*(?:(?i:option)\s*)?\(?({cls})\b\)?",
        rf"^\(?({cls})(?:[.):]|\s*$|\s+(?:is|because)\b)",
        rf"\(({cls})\)",
        rf"\b({cls})[.)](?:\s|$)",
    ]
    for p in patterns:
        m = re.search(p, text)
        if m:
            return m.group(1)
    lowered = text.lower()
    stated = [LETTERS[i] for i, c in enumerate(choices) if str(c).strip() and str(c).strip().lower() in lowered]
    if len(stated) == 1:
        return stated[0]
    # A lone option letter standing as a word (not an article starting a sentence: 'A train ...').
    singles = set(re.findall(rf"\b({cls})\b(?!\s+[a-z])", text))
    return singles.pop() if len(singles) == 1 else None


def score_mcq(completion: str, answer: Any, choices: list[str]) -> Score:
    gold = gold_letter(answer, choices)
    pred = extract_letter(completion, choices)
    return Score(pred == gold, pred, gold)


def format_mcq(question: str, choices: list[str]) -> str:
    """The question followed by its lettered options, one per line."""
    lines = [question.rstrip(), ""]
    lines += [f"{LETTERS[i]}. {str(c).strip()}" for i, c in enumerate(choices)]
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------------------------- code

_CODE_BLOCK = re.compile(r"```[ \t]*(?:python|py|python3)?[ \t]*\n(.*?)(?:```|\Z)", re.DOTALL | re.IGNORECASE)


def extract_code(completion: str) -> str:
    """The code in a completion: the first fenced block (```python ... ```, an unclosed block runs to the end),
    else the whole completion."""
    m = _CODE_BLOCK.search(completion)
    return m.group(1) if m else completion


def build_program(completion: str, item: dict[str, Any], prompt_field: str) -> str:
    """A runnable test program for one code item.

    HumanEval layout (fields `test`, `entry_point`, and the prompt = signature + docstring): when the completion
    defines the entry point itself it follows the prompt (so the prompt's imports stay in scope and the new
    definition wins); otherwise it is taken as the body continuing the prompt. Then the tests and
    `check(entry_point)`. MBPP layout (`test_list` of asserts, optional `test_setup_code`): completion + asserts.
    """
    code = extract_code(completion)
    if "test" in item and "entry_point" in item:
        entry = str(item["entry_point"])
        prompt = str(item.get(prompt_field, ""))
        if re.search(rf"^\s*def\s+{re.escape(entry)}\s*\(", code, re.MULTILINE):
            body = prompt + "\n\n" + textwrap.dedent(code)
        else:
            body = prompt + code
        return f"{body}\n\n{item['test']}\n\ncheck({entry})\n"
    if "test_list" in item:
        tests = item["test_list"]
        if isinstance(tests, str):
            tests = [tests]
        setup = str(item.get("test_setup_code") or "")
        return "\n".join([setup, textwrap.dedent(code), *map(str, tests)]) + "\n"
    raise DatachefError(f"code benchmark item has no tests: expected HumanEval fields 'test' + 'entry_point' or an "
                        f"MBPP 'test_list' (its fields: {', '.join(item)})", field="test")


def run_program(program: str, timeout: float = 10.0) -> str:
    """Run `program` in a fresh isolated Python subprocess in a temporary folder: 'passed' (exit 0), 'failed'
    (non-zero exit) or 'timeout' (killed, with its whole process group, after `timeout` seconds)."""
    with tempfile.TemporaryDirectory(prefix="datachef-code-") as tmp:
        path = os.path.join(tmp, "program.py")
        with open(path, "w", encoding="utf-8") as f:
            f.write(program)
        env = {"PATH": os.environ.get("PATH", ""), "PYTHONHASHSEED": "0", "PYTHONDONTWRITEBYTECODE": "1"}
        proc = subprocess.Popen([sys.executable, "-I", path], cwd=tmp, env=env, stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True, preexec_fn=_limit_resources if os.name == "posix" else None)
        try:
            rc = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            return "timeout"
        _kill_group(proc)  # children the program left behind
        return "passed" if rc == 0 else "failed"


def _limit_resources() -> None:
    """In the child: cap memory (4 GiB address space) and forbid core dumps, so a runaway completion cannot take
    the evaluation machine down."""
    import resource

    for limit, value in ((resource.RLIMIT_AS, 4 << 30), (resource.RLIMIT_CORE, 0)):
        try:
            resource.setrlimit(limit, (value, value))
        except (ValueError, OSError):
            pass


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError, AttributeError):
        pass
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass


def score_code(completion: str, item: dict[str, Any], prompt_field: str, timeout: float = 10.0) -> Score:
    status = run_program(build_program(completion, item, prompt_field), timeout)
    return Score(status == "passed", status, None)


# -------------------------------------------------------------------------------------------------------- free text

def normalize_text(text: str) -> str:
    """SQuAD-style normalisation: lowercase, drop punctuation and articles, collapse whitespace."""
    t = text.lower()
    t = "".join(ch for ch in t if ch not in set(string.punctuation))
    t = re.sub(r"\b(a|an|the)\b", " ", t)
    return " ".join(t.split())


def score_free(completion: str, answer: Any, pattern: str | None = None) -> Score:
    """Normalised exact match of the completion's answer (after 'answer:' / '####' when present) with the gold
    (the first group of `pattern` in the answer field when given)."""
    gold = gold_numeric_answer(answer, pattern)
    text = completion.strip()
    m = _HASH_ANSWER.findall(text) or _ANSWER_IS.findall(text)
    pred = (m[-1] if m else text).strip()
    return Score(normalize_text(pred) == normalize_text(gold), pred, gold)
