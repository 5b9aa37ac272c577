"""Normalise and compare answers: numbers (exact rational arithmetic for plain numbers, math-verify for LaTeX and
expressions), MCQ gold letters, free text.

    answers_equivalent("1,000", "$1000.00")    # True   (plain numbers: exact, no sympy)
    answers_equivalent("0.5", "\\frac{1}{2}")   # True   (math-verify)
    answers_equivalent("7", "")                # None   (nothing to compare as math)
    answer_number("$1,200 in total")           # '$1,200' (the number a stated answer gives)
    normalise_number("$1,234.50")              # '1234.5'

Both the verifier (grading training records) and evaluation (scoring a model's completions) compare through here, so
the correlation study compares two graders that agree on what "the same answer" means.
"""
from __future__ import annotations

import re
import signal
import string
import threading
from fractions import Fraction
from typing import Any, Sequence

# A number as written in an answer: sign and currency in either order, thousands commas, decimals, a fraction a/b,
# a percent sign ('-$1,234.50', '$-3', '.5', '3/4', '50%').
NUMBER = r"(?:-\$?|\$-?)?(?:\d+(?:,\d{3})*(?:\.\d+)?|\.\d+)(?:/\d+)?%?"
_NUMBER = re.compile(NUMBER)
# What words around a stated number must not hold for it to be the answer: arithmetic, LaTeX, a percent sign.
_NOT_PROSE = re.compile(r"[+*/^×÷%<>\\]|\s-\s")
_MATH_TIMEOUT_S = 5
LETTERS = string.ascii_uppercase


# ---------------------------------------------------------------------------------------------------------- numbers

def answer_number(text: str) -> str | None:
    """The number a stated answer gives, as written: the text itself when it is one number, or its only number
    when nothing but words surround it ('42 apples', '$1,200 in total', 'The total is 42', 'x = 5'). None for
    LaTeX, expressions, several numbers and words ('\\frac{1}{2}', '3 + 4', '3x', '15 days, 19:17', 'forty-two'):
    those are math-verify's to read, and no single number of theirs is the answer."""
    t = text.strip().rstrip(".").strip()
    if _NUMBER.fullmatch(t):
        return t
    found = list(_NUMBER.finditer(t))
    if len(found) != 1:
        return None
    m = found[0]
    before, after = t[:m.start()], t[m.end():]
    glued = before[-1:].isalnum() or after[:1].isalnum() or after[:1] == "."
    return None if glued or _NOT_PROSE.search(f"{before} {after}") else m.group()


def _value(number: str) -> tuple[Fraction, bool] | None:
    """(exact value as written, whether it carries a percent sign)."""
    t = number.replace("$", "").replace(",", "")
    percent = t.endswith("%")
    try:
        return Fraction(t.rstrip("%")), percent
    except (ValueError, ZeroDivisionError):
        return None


def _same_number(a: str, b: str) -> bool | None:
    va, vb = _value(a), _value(b)
    if va is None or vb is None:
        return None
    (x, x_pct), (y, y_pct) = va, vb
    if x_pct == y_pct or x == y:
        return x == y
    # One side is a percentage: '50%' is both 50 (GSM8K writes "what percent" answers bare) and 0.5, as math-verify.
    return (x / 100 if x_pct else x) == (y / 100 if y_pct else y)


def normalise_number(text: str) -> str | None:
    """The canonical form of the number `text` states (see `answer_number`): '$1,234.50' -> '1234.5', '7.0' -> '7',
    '-3 apples' -> '-3', '3/4' -> '3/4', '50%' -> '50'; None when it states none."""
    number = answer_number(text)
    if number is None:
        return None
    s = number.replace("$", "").replace(",", "").rstrip("%")
    if "." in s and "/" not in s:
        s = s.rstrip("0").rstrip(".")
        s = "-0" + s[1:] if s.startswith("-.") else ("0" + s if s.startswith(".") else s)
    return "0" if s in ("", "-", "-0") else s


def parse_math(text: str) -> list:
    """math-verify's reading of `text` ([] when it reads nothing or math-verify is not installed). Text without
    math delimiters is read between $...$ first, so bare LaTeX ('3\\sqrt{2}') is read whole rather than as '3'."""
    try:
        from math_verify import parse
    except ImportError:  # math-verify is in the `llm` extra; plain numbers are compared without it
        return []
    try:
        found = parse(f"${text}$", parsing_timeout=_timeout()) if "$" not in text else []
        return found or parse(text, parsing_timeout=_timeout())
    except Exception:  # a parser crash on odd text is "unreadable", not a failure of the caller
        return []


def _timeout() -> int | None:
    # math-verify's timeouts use SIGALRM, which only the main thread may set; elsewhere they are off.
    main = threading.current_thread() is threading.main_thread() and hasattr(signal, "SIGALRM")
    return _MATH_TIMEOUT_S if main else None


def answers_equivalent(gold: str, predicted: str) -> bool | None:
    """Whether two stated answers are the same: exact comparison when both give a plain number (commas, $, %, a/b,
    trailing units; see `answer_number`), else math-verify's equivalence (LaTeX, expressions). None when they
    cannot be compared (either side reads as neither a number nor math)."""
    g, p = answer_number(gold), answer_number(predicted)
    if g is not None and p is not None:
        same = _same_number(g, p)
        if same is not None:
            return same
    gp, pp = parse_math(g or gold), parse_math(p or predicted)
    if not gp or not pp:
        return None
    from math_verify import verify

    try:
        return bool(verify(gp, pp, timeout_seconds=_timeout()))
    except Exception:
        return None


def number_value(text: str) -> tuple[float, bool] | None:
    """(float value of the number `text` states as written, whether it is a percentage); None when it states none."""
    number = answer_number(text)
    v = _value(number) if number is not None else None
    return (float(v[0]), v[1]) if v is not None else None


# -------------------------------------------------------------------------------------------------------------- MCQ

def gold_letter(answer: Any, choices: Sequence[str]) -> str:
    """An MCQ gold answer as a letter: a letter ('B', '(b)', 'c.', '(D).'), a 0-based index (1 or '1'), or the
    text of one of the choices. Raises ValueError for anything else."""
    n = len(choices)
    if isinstance(answer, bool):
        raise ValueError(f"MCQ answer {answer!r} is not a letter, index or choice text")
    if isinstance(answer, int):
        if 0 <= answer < n:
            return LETTERS[answer]
        raise ValueError(f"MCQ answer index {answer} is out of range for {n} choices")
    text = str(answer).strip()
    m = re.fullmatch(r"\(?([A-Za-z])\)?[.:]?", text)
    if m and m.group(1).upper() in LETTERS[:n]:
        return m.group(1).upper()
    if text.isdigit() and int(text) < n:
        return LETTERS[int(text)]
    for i, c in enumerate(choices):
        if text and text == str(c).strip():
            return LETTERS[i]
    raise ValueError(f"MCQ answer {answer!r} is neither a letter A-{LETTERS[max(n, 1) - 1]}, an index < {n}, nor one "
                     f"of the choices")


# -------------------------------------------------------------------------------------------------------- free text

def normalize_text(text: str) -> str:
    """SQuAD-style normalisation: lowercase, drop punctuation and articles, collapse whitespace."""
    t = "".join(ch for ch in text.lower() if ch not in string.punctuation)
    return " ".join(re.sub(r"\b(a|an|the)\b", " ", t).split())


def texts_equal(gold: str, predicted: str) -> bool:
    """Normalised exact match of two free-text answers."""
    return normalize_text(predicted) == normalize_text(gold)
