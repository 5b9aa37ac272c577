"""Read answers out of text: the final answer a reply states, the option letter it picks, the code it gives.

One reader per kind, with one explicit policy switch where the verifier and evaluation legitimately differ:
- the verifier grades *training records* and must know whether a reply states its answer in a recognisable form
  (a reply that does not is a Task mismatch or unfinished), so it reads strictly;
- evaluation scores a model's *free completion* and reads leniently, like lm-eval's "flexible extract": the last
  number of the text, the option whose text is quoted, unfenced text as code.

Values come back as written ('1,688', '42 apples', '\\frac{1}{2}'); compare.py decides what they are worth.
"""
from __future__ import annotations

import re
from functools import lru_cache
from typing import Sequence

from .compare import LETTERS, NUMBER

HASH_ANSWER = re.compile(r"####\s*(.+?)\s*$", re.M)  # GSM8K's final-answer line
_FRAC = r"\\d?frac\{[^{}]+\}\{[^{}]+\}"
_ANSWER_IS = re.compile(rf"\b(?:final answer|answer)\s*(?:is|:|=)[:\s]*(?:({NUMBER})|\$?({_FRAC})\$?)", re.I)
_ANSWER_IS_TEXT = re.compile(r"\b(?:final answer|answer)\s*(?:is|:|=)[:\s]*([^\n]+)", re.I)
_BARE_NUMBER = re.compile(rf"\s*{NUMBER}\.?\s*")
_LAST_NUMBER = re.compile(NUMBER)
_STATES_ANSWER = re.compile(r"\b(?:final answer|answer|result)\b\s*(?:is|:|=)|####|\\boxed\{", re.I)


# ---------------------------------------------------------------------------------------------------- final answers

def _boxed(text: str) -> str | None:
    """Contents of the last \\boxed{...}, braces balanced ('\\boxed{\\frac{\\sqrt{2}}{2}}' is read whole)."""
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


def extract_answer(text: str, answer_pattern: str | None = None, *, numeric: bool = True,
                   lenient: bool = False) -> str | None:
    """The final answer `text` states, as written; of each form the last one:

    1. the benchmark's `answer_pattern` (its first group, or the whole match), 2. a '#### X' line, 3. LaTeX
    \\boxed{X}, 4. 'the answer is X' / 'answer: X' / 'answer = X' (X a number or \\frac when `numeric`, else the
    rest of the line), 5. the whole text when it is a bare number.

    Strict by default: None when the text states no answer in any of these forms. `lenient` (a model's completion
    at evaluation) falls back to the text's last number (`numeric`) or to the whole text (free-text answers)."""
    patterns = [re.compile(answer_pattern, re.M)] if answer_pattern else []
    for p in [*patterns, HASH_ANSWER]:
        hits = list(p.finditer(text))
        if hits:
            m = hits[-1]
            value = (m.group(1) if m.groups() else m.group()) or ""
            value = value.strip().rstrip(".").strip()
            if value:
                return value
    boxed = _boxed(text)
    if boxed is not None and boxed.strip():
        return boxed.strip()
    said = (_ANSWER_IS if numeric else _ANSWER_IS_TEXT).findall(text)
    if said:
        last = said[-1]
        value = (last[0] or last[1]) if numeric else last
        if value.strip().rstrip("."):
            return value.strip().rstrip(".").strip()
    if _BARE_NUMBER.fullmatch(text):  # the whole reply is the answer (benchmarks that want a bare number)
        return text.strip().rstrip(".")
    if lenient:
        if numeric:
            found = _LAST_NUMBER.findall(text)
            return found[-1] if found else None
        return text.strip() or None
    return None


def states_an_answer(text: str) -> bool:
    """Whether `text` concludes with an answer of any form ("the answer is B", "Answer: Paris", "#### x"): a reply
    that does is finished, even when its answer is not in the benchmark's form."""
    return bool(_STATES_ANSWER.search(text)) or bool(_BARE_NUMBER.fullmatch(text))


# ---------------------------------------------------------------------------------------------------- option letters

OPTION_LETTERS = LETTERS[:10]  # A-J: the most options an MCQ benchmark lists
_OPTION_LINE = re.compile(r"^\s*\(?([A-J])[).:]\s+(\S.*)$", re.M)


def format_mcq(question: str, choices: Sequence[str]) -> str:
    """The question followed by its lettered options, one per line ('A. Paris'), the layout `listed_options`
    reads back."""
    lines = [question.rstrip(), ""]
    lines += [f"{LETTERS[i]}. {str(c).strip()}" for i, c in enumerate(choices)]
    return "\n".join(lines)


def listed_options(question: str) -> dict[str, str]:
    """The options a question lists, letter -> text ('A. Mars' / '(B) Jupiter' lines); {} when it lists none."""
    return {m.group(1): m.group(2).strip() for m in _OPTION_LINE.finditer(question)}


@lru_cache(maxsize=32)
def _letter_patterns(cls: str) -> list[re.Pattern]:
    # Letters are uppercase only: a lowercase 'a' after "the answer is" is an article, not option A.
    return [
        re.compile(rf"(?i:answer|option|choice)(?:\s+(?i:is))?\s*:?\s*(?:(?i:option)\s+)?[(*]*({cls})\b(?![a-z'])"),
        re.compile(rf"####\s*\(?({cls})\)?\s*$", re.M),
        re.compile(rf"^\s*[(*]*({cls})[*)]*[.):]?\s*$", re.M),  # a line holding only the letter
        re.compile(rf"\A\s*\(?({cls})(?:[.):]|\s+(?:is|because)\b)"),  # the reply starts with it: 'B. Paris'
        re.compile(rf"\(({cls})\)"),
        re.compile(rf"\b({cls})[.)](?:\s|$)"),
    ]


def extract_letter(text: str, letters: str = OPTION_LETTERS, *, answer_pattern: str | None = None,
                   lenient: bool = False, choices: Sequence[str] | None = None) -> str | None:
    """The option letter (one of `letters`) a reply picks; of each form the last one: the benchmark's
    `answer_pattern`, 'the answer is (B)' / 'Answer: B' / 'option B', '#### B', a line holding only the letter, a
    reply starting 'B.' / 'B)', '(B)', 'B.' anywhere.

    Strict by default, since a training reply must pick a letter as the benchmark's answers do. `lenient` (a
    model's completion at evaluation) also takes the one option whose text the reply states (`choices`: the
    options' texts), else the one letter standing alone as a word ('I'd go with B')."""
    if answer_pattern:
        for h in reversed(re.findall(answer_pattern, text, re.M)):
            h = (h[0] if isinstance(h, tuple) else h).strip().strip("().*").upper()
            if len(h) == 1 and h in letters:
                return h
    cls = f"[{letters}]"
    for p in _letter_patterns(cls):
        hits = p.findall(text)
        if hits:
            return hits[-1]
    if not lenient:
        return None
    if choices:
        lowered = text.lower()
        stated = [LETTERS[i] for i, c in enumerate(choices) if str(c).strip() and str(c).strip().lower() in lowered]
        if len(stated) == 1:
            return stated[0]
    # A lone letter standing as a word, not an article or pronoun starting a sentence ('A train ...', 'I think').
    singles = set(re.findall(rf"\b({cls})\b(?!\s+[a-z]|')", text))
    return singles.pop() if len(singles) == 1 else None


# ------------------------------------------------------------------------------------------------------- code blocks

_FENCE = re.compile(r"```[ \t]*(?:python3?|py)?[ \t]*\n(.*?)(?:```|\Z)", re.S | re.I)
_PYTHON_LINE = re.compile(r"^\s*(def|class|import|from)\s", re.M)


def extract_code(text: str, *, lenient: bool = False) -> str | None:
    """The code a reply gives: its first fenced block (an unclosed one runs to the end: a truncated reply).

    The first, not the last: replies put the solution first and usage examples or tests after it, and a usage
    example run alone fails. Without a fence: the whole text when it reads as Python source (a `def`, `class` or
    import line), else None; `lenient` (a completion continuing a code prompt, e.g. a HumanEval function body)
    takes the whole text as code."""
    m = _FENCE.search(text)
    if m:
        return m.group(1)
    if lenient or _PYTHON_LINE.search(text):
        return text
    return None
