"""Arithmetic consistency of a worked math solution (GSM8K style).

A weak judge cannot solve the problem, but a deterministic verifier can still derive its own reference: recompute
every "a op b = c" equation written in the solution and take the last computed result. The solution is consistent
when every equation holds (up to the rounding its result is written with) and the final `#### N` answer equals the
last computed result. This catches the commonest corruption of math data — a final answer changed without the
reasoning — even when the answer field of the source row was changed with it.

Parsing is deliberately conservative: an equation whose left side cannot be read as plain arithmetic (algebra with
variables, words between numbers without an operator, unbalanced parentheses) is skipped, never guessed.
"""
from __future__ import annotations

import ast
import math
import operator
import re
from dataclasses import dataclass, field

from ..answers import HASH_ANSWER

# A number as written in solutions: optional thousands separators, optional decimals. Not part of a longer token.
_NUMBER = r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+"
_TOKEN = re.compile(
    rf"(?P<num>(?:{_NUMBER}))(?P<glued>[A-Za-z]+)?"  # 12, 1,200.5, 2x (glued letters), 3rd
    r"|(?P<word>[A-Za-z]+(?:'[A-Za-z]+)?)"
    r"|(?P<op>[-+*/×÷−–])"
    r"|(?P<lp>\()|(?P<rp>\))"
    r"|(?P<pct>%)"
    r"|(?P<cur>[$€£¥])"
    r"|(?P<eq>=)"
    r"|(?P<space>\s+)"
    r"|(?P<other>.)")
_ANNOTATION = re.compile(r"<<([^<>=]*)=([^<>]*)>>")  # GSM8K's calculator annotations
_UNIT_SLASH = re.compile(r"(?<=[\dA-Za-z])/(?=[A-Za-z])")  # km/h, $10/hour: a unit, not a division
_SPACED_THOUSANDS = re.compile(r"(?<=[$€£¥])(\s?\d{1,3}) (?=\d{3}\b)")  # "$350 000"
_EQUALS_WORD = re.compile(r"\bequals\b", re.I)
_COMPOUND = re.compile(r"(?<=[\dA-Za-z])-(?=[A-Za-z])")  # "1000-foot", "semi-automatic": not a subtraction
_MIXED = re.compile(r"(?<![\d./])(\d+) (\d+)/(\d+)(?![\d/])")  # "3 1/2" is three and a half
_RHS_PERCENT = re.compile(r"^\s*[$€£¥]?\s*-?[\d.,]+\s*%")
_ORDINAL = re.compile(r"^(st|nd|rd|th)$", re.I)
_OP_WORDS = {"times": "*", "plus": "+", "minus": "-"}
_CLAUSE_WORDS = {"because", "since", "so", "thus", "hence", "therefore", "then"}  # start a new clause
_OPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv}


@dataclass
class Equation:
    text: str        # the expression as evaluated, e.g. "198 + 90"
    value: float     # what it evaluates to
    written: float   # the result written after '='
    ok: bool

    def as_dict(self) -> dict:
        return {"expr": self.text, "computed": _fmt(self.value), "written": _fmt(self.written), "ok": self.ok}


@dataclass
class ArithmeticReport:
    equations: list[Equation] = field(default_factory=list)
    final: float | None = None
    last_result: float | None = None
    final_checked: bool = True  # False when an equation we could not read follows the last one we recomputed

    @property
    def wrong(self) -> list[Equation]:
        return [e for e in self.equations if not e.ok]

    @property
    def final_matches(self) -> bool | None:
        if self.final is None or self.last_result is None or not self.final_checked:
            return None
        last = self.last_result
        if close(self.final, last, decimals=None):
            return True
        # "6.75 packs, so 7 packs": a final answer rounded from a fractional last result.
        return not float(last).is_integer() and self.final in (math.floor(last), math.ceil(last), round(last))

    @property
    def status(self) -> str:
        """'pass' (every equation holds and the final answer is the last result), 'fail', or 'skip' (nothing to
        check: no readable equation)."""
        if not self.equations:
            return "skip"
        if self.wrong or self.final_matches is False:
            return "fail"
        return "pass"

    def detail(self) -> str:
        if not self.equations:
            return "no arithmetic equation to recompute"
        parts = [f"{len(self.equations)} equation(s) recomputed"]
        for e in self.wrong[:3]:
            parts.append(f"'{e.text} = {_fmt(e.written)}' is wrong ({e.text} = {_fmt(e.value)})")
        if self.final_matches is False:
            parts.append(f"final answer {_fmt(self.final)} differs from the last computed result "
                         f"{_fmt(self.last_result)}")
        return "; ".join(parts)


def _fmt(x: float | None) -> str:
    if x is None:
        return "?"
    return str(int(x)) if float(x).is_integer() else f"{x:.6g}"


def _decimals(text: str) -> int:
    return len(text.split(".", 1)[1]) if "." in text else 0


def close(computed: float, written: float, decimals: int | None, division: bool = False) -> bool:
    """Whether `written` is `computed` as a person would write it: exact up to float error, rounded to the decimals
    it is written with, or (after a division) rounded to a whole number either way ("7 / 2 = 3 full boxes")."""
    if math.isclose(computed, written, rel_tol=1e-6, abs_tol=1e-9):
        return True
    if decimals is not None and abs(computed - written) <= 0.5 * 10 ** -decimals + 1e-9:
        return True
    if division and float(written).is_integer() and written in (math.floor(computed), math.ceil(computed)):
        return True
    return False


def _to_number(text: str) -> float:
    return float(text.replace(",", ""))


def _evaluate(expr: str) -> float | None:
    """Value of a plain arithmetic expression (numbers, + - * /, parentheses, unary minus); None otherwise."""
    try:
        tree = ast.parse(expr, mode="eval")
    except (SyntaxError, ValueError):
        return None

    def ev(node: ast.AST) -> float:
        if isinstance(node, ast.Expression):
            return ev(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) \
                and not isinstance(node.value, bool):
            return float(node.value)
        if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
            return _OPS[type(node.op)](ev(node.left), ev(node.right))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            v = ev(node.operand)
            return -v if isinstance(node.op, ast.USub) else v
        raise ValueError("not plain arithmetic")

    try:
        value = ev(tree)
    except (ValueError, ZeroDivisionError, OverflowError):
        return None
    return value if math.isfinite(value) else None


class _Algebra(Exception):
    """The text uses a variable: not plain arithmetic."""


def _prepare(text: str) -> str:
    text = _SPACED_THOUSANDS.sub(r"\1", text)
    text = _UNIT_SLASH.sub(" ", text)
    text = _COMPOUND.sub(" ", text)
    return _MIXED.sub(r"(\1 + \2/\3)", text)


def _tokens(segment: str) -> list[tuple[str, str]]:
    """(kind, text) tokens of an equation side with words dropped; kinds: num, op, lp, rp, stop. Raises _Algebra
    when the text uses a single-letter variable or a number glued to one letter ("2n")."""
    raw = [("num" if m.group("num") else m.lastgroup, m.group()) for m in _TOKEN.finditer(_prepare(segment))
           if m.lastgroup != "space"]
    out: list[tuple[str, str]] = []
    for i, (kind, text) in enumerate(raw):
        nxt = raw[i + 1] if i + 1 < len(raw) else ("", "")
        prev_num = bool(out) and out[-1][0] in ("num", "rp")
        next_num = nxt[0] in ("num", "lp", "cur")
        if kind == "num":
            m = _TOKEN.match(text)
            glued = m.group("glued") if m else None
            number = m.group("num") if m else text
            if glued and _ORDINAL.match(glued):
                out.append(("stop", text))  # "3rd": not a quantity
                continue
            if glued and len(glued) == 1 and glued.lower() != "x":
                raise _Algebra(text)
            out.append(("num", number.replace(",", "")))
            if glued and glued.lower() == "x":
                if not next_num:
                    raise _Algebra(text)  # "3x + 4"
                out.append(("op", "*"))  # "3x4"
            elif nxt[0] == "lp":
                out.append(("op", "*"))  # "27(1/3)"
        elif kind == "word":
            w = text.lower()
            if w in _OP_WORDS and prev_num and next_num:
                out.append(("op", _OP_WORDS[w]))
            elif w == "x" and prev_num and next_num:
                out.append(("op", "*"))
            elif len(w) == 1 and w not in ("a", "i"):
                raise _Algebra(text)
            elif w in _CLAUSE_WORDS:
                out.append(("stop", text))
            # other words (units, names, filler) are dropped
        elif kind == "op":
            out.append(("op", {"×": "*", "÷": "/", "−": "-", "–": "-"}.get(text, text)))
        elif kind == "lp":
            if out and out[-1][0] == "rp":
                out.append(("op", "*"))  # "(2)(3)"
            out.append((kind, text))
        elif kind == "rp":
            out.append((kind, text))
            if nxt[0] == "num":
                out.append(("op", "*"))  # "(1/3)27"
        elif kind == "pct":
            if out and out[-1][0] in ("num", "rp"):
                out += [("op", "/"), ("num", "100")]
                after = raw[i + 2] if i + 2 < len(raw) else ("", "")
                if nxt[0] == "word" and nxt[1].lower() == "of" and after[0] in ("num", "lp", "cur"):
                    out.append(("op", "*"))  # "50% of 88"
        elif kind == "cur":
            continue
        else:  # punctuation other than operators ends a clause
            out.append(("stop", text))
    return out


def _expression(tokens: list[tuple[str, str]], from_right: bool) -> tuple[str, bool] | None:
    """The longest run of tokens at the right end (left side of '=') or left end (right side) that is plain
    arithmetic. Returns (expression, has_operator)."""
    # Only the clause next to '=' counts.
    if from_right:
        cut = max((i for i, (k, _) in enumerate(tokens) if k == "stop"), default=-1)
        tokens = tokens[cut + 1:]
    else:
        cut = next((i for i, (k, _) in enumerate(tokens) if k == "stop"), len(tokens))
        tokens = tokens[:cut]
    if not tokens:
        return None
    candidates = range(len(tokens)) if from_right else range(len(tokens), 0, -1)
    for i in candidates:
        part = tokens[i:] if from_right else tokens[:i]
        # A leading sign only at the clause start: inside it, "cars - 20" must not lose its left operand.
        if part[0][0] not in ("num", "lp", "op") or part[0][1] in ("*", "/") \
                or (part[0][0] == "op" and i != (0 if from_right else i) and from_right):
            continue
        expr = " ".join(t for _, t in part)
        if _evaluate(expr) is not None:
            has_op = any(k == "op" for k, _ in part[1:]) or any(k == "lp" for k, _ in part)
            return expr, has_op
    return None


def check_arithmetic(solution: str, final_answer: str | None = None) -> ArithmeticReport:
    """Recompute the equations of `solution`; `final_answer` defaults to its '#### N' line."""
    report = ArithmeticReport()
    if final_answer is None:
        finals = HASH_ANSWER.findall(solution)
        final_answer = finals[-1] if finals else None
    if final_answer is not None:
        m = re.search(_NUMBER, final_answer.replace("$", ""))
        if m:
            neg = final_answer.strip().lstrip("$€£¥ ").startswith("-")
            report.final = -_to_number(m.group()) if neg else _to_number(m.group())
    body = HASH_ANSWER.sub("", solution)
    # Whether an equation we could not recompute follows the last one we did: then the final answer may come from
    # it, and comparing it with our last result would be unfair.
    unchecked_after = False

    def add(lhs: str, rhs: str) -> bool:
        try:
            left_tokens, rhs_tokens = _tokens(lhs), _tokens(rhs)
        except _Algebra:
            return False
        right = _expression(rhs_tokens, from_right=False)
        left = _expression(left_tokens, from_right=True)
        if right is None:
            return False
        rhs_value = _evaluate(right[0])
        if rhs_value is None:
            return False
        first = rhs_tokens[0][1] if rhs_tokens[0][0] == "num" else None
        percent = bool(_RHS_PERCENT.match(rhs))
        # What was written: the first number after '=' ("= 8 apples", "= 60%"), or a whole expression ("= 4/5").
        written, dec = (_to_number(first), _decimals(first)) if first is not None and (percent or not right[1]) \
            else (rhs_value, None)
        if left is None or not left[1]:
            # "Total = $125" or "125 = 125": a statement of a value, nothing to recompute. A bare number that
            # differs from the right side ("... in 15 minutes = 5 cars") is prose we cannot read.
            if left is not None and not close(_evaluate(left[0]) or 0.0, written, dec):
                return False
            report.last_result = written
            return True
        value = _evaluate(left[0])
        if value is None:
            return False
        candidates = [written]
        if percent:
            candidates.append(written / 100)  # "12/20 x 100% = 60%" and "= 0.6" are both right
        if right[1] and first is not None:
            candidates.append(_to_number(first))  # "= 8 apples - 2 eaten": 8 is the result, the rest goes on
        division = "/" in left[0]
        ok = any(close(value, w, dec, division) for w in candidates)
        report.equations.append(Equation(left[0], value, written, ok))
        report.last_result = written
        return True

    for line in body.split("\n"):
        # Calculator annotations first ("<<3*4=12>>"), then the prose with them removed.
        for expr, result in _ANNOTATION.findall(line):
            unchecked_after = not add(expr, result)
        prose = _EQUALS_WORD.sub("=", _ANNOTATION.sub(" ", line))
        if "=" not in prose:
            continue
        try:
            _tokens(prose)
        except _Algebra:
            unchecked_after = True  # "W = 1 1/2 / 1/2 = 3": a line about a variable is skipped whole
            continue
        sides = prose.split("=")
        for i in range(1, len(sides)):
            unchecked_after = not add(sides[i - 1], sides[i])
    report.final_checked = not unchecked_after
    return report
