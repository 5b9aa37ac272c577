"""Questions that determine their own answer: puzzles a program generated (reasoning-gym style) — base conversion,
bit counts, prime factorization, GCD / LCM, fraction simplification, linear equations in one unknown, Caesar
ciphers, reversed words, word sorting, course schedules (a prerequisite graph without a cycle), 4x4 sudoku,
shortest paths in a grid (breadth-first search). For
these the right answer is computed from the question, so a wrong answer that a source's own answer field repeats (a
volunteer-typed copy, a corrupted mirror) is caught: the gold checker trusts the source row and cannot, and a small
local judge does not know that 2216 in base 7 is 3405 in base 6. This is the verifiable-reward practice of RLVR
work (reasoning-gym's own `score_answer`, DeepSeek-R1's rule-based rewards), applied to the training data rather
than to a policy's reply.

`check_solvable(question, response)` returns None when no solver recognises the question (or it lists options:
an MCQ is the MCQ checker's business), else one `CheckResult` named "solver": 'skip' when the reply states no
answer it can read with confidence (a strict final-answer form — '#### x', \\boxed{x}, 'Answer: x' — or a
one-line reply; a sudoku is read as the reply's last grid), otherwise 'pass' or 'fail' with the right answer as
reference.
"""
from __future__ import annotations

import ast
import math
import re
from dataclasses import dataclass
from fractions import Fraction
from typing import Callable

from ..answers import extract_answer, listed_options
from .checkers import CheckResult

NAME = "solver"
_BASES = {"binary": 2, "octal": 8, "decimal": 10, "hexadecimal": 16}
_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"


@dataclass(frozen=True)
class Solved:
    """What a solver derived: the right answer as written for the reference, and whether a stated answer is it."""

    reference: str
    accepts: Callable[[str], bool]
    whole_reply: bool = False  # `accepts` reads the whole reply (a grid), not one stated answer


# -------------------------------------------------------------------------------------------------------- solvers

def _base(word: str) -> int | None:
    m = re.fullmatch(r"base-(\d+)", word)
    b = int(m.group(1)) if m else _BASES.get(word)
    return b if b is not None and 2 <= b <= 36 else None


def _to_base(n: int, b: int) -> str:
    if n == 0:
        return "0"
    sign, n, digits = "-" if n < 0 else "", abs(n), []
    while n:
        n, r = divmod(n, b)
        digits.append(_DIGITS[r])
    return sign + "".join(reversed(digits))


def _parse_int(text: str, base: int = 10) -> int | None:
    t = text.strip().lower().replace(",", "")
    t = re.sub(r"^(?:0x|0b|0o)(?=[0-9a-z])", "", t) if base in (2, 8, 16) else t
    try:
        return int(t, base)
    except ValueError:
        return None


def _base_conversion(q: str) -> Solved | None:
    m = re.search(r"convert the (base-\d+|binary|octal|decimal|hexadecimal) number ([0-9a-zA-Z]+) to "
                  r"(base-\d+|binary|octal|decimal|hexadecimal)\b", q)
    if not m:
        return None
    src, dst = _base(m.group(1)), _base(m.group(3))
    value = _parse_int(m.group(2), src) if src and dst else None
    if value is None or dst is None:
        return None
    return Solved(_to_base(value, dst), lambda a: _parse_int(a, dst) == value)


def _bit_count(q: str) -> Solved | None:
    m = re.search(r"How many 1 bits are there in the binary representation of the number (\d+)", q)
    if not m:
        return None
    value = bin(int(m.group(1))).count("1")
    return Solved(str(value), lambda a: _parse_int(a) == value)


def _is_prime(n: int) -> bool:
    if n < 2:
        return False
    return all(n % p for p in range(2, math.isqrt(n) + 1))


def _factorise(n: int) -> list[int]:
    out, p = [], 2
    while p * p <= n:
        while n % p == 0:
            out.append(p)
            n //= p
        p += 1
    return out + ([n] if n > 1 else [])


def _prime_factorization(q: str) -> Solved | None:
    m = re.search(r"prime factori[sz]ation of (\d+)", q)
    if not m or int(m.group(1)) > 10**12:
        return None
    n = int(m.group(1))

    def accepts(a: str) -> bool:
        a = a.replace("\\times", "×").replace("\\cdot", "×").replace("·", "×").replace("•", "×").replace("*", "×")
        factors = []
        for part in re.split(r"\s*[×x]\s*", a.strip()):
            f = re.fullmatch(r"(\d+)(?:\s*\^\s*\{?(\d+)\}?)?", part)
            if not f:
                return False
            factors += [int(f.group(1))] * int(f.group(2) or 1)
        return math.prod(factors) == n and all(_is_prime(f) for f in factors)  # the product first: it is cheap

    return Solved(" × ".join(map(str, _factorise(n))), accepts)


def _numbers(text: str) -> list[int]:
    return [int(x) for x in re.findall(r"\d+", text)]


def _gcd_lcm(q: str) -> Solved | None:
    m = re.search(r"(Greatest Common Divisor \(GCD\)|Least Common Multiple \(LCM\)) of these numbers: "
                  r"(\d+(?:\s*,\s*\d+)+)", q)
    if not m:
        return None
    nums = _numbers(m.group(2))
    value = math.gcd(*nums) if m.group(1).startswith("Greatest") else math.lcm(*nums)
    return Solved(str(value), lambda a: _parse_int(a) == value)


_FRACTION = re.compile(r"^\$?\s*(-?)\s*(?:\\[dt]?frac\{\s*(\d+)\s*\}\{\s*(\d+)\s*\}|(\d+)\s*/\s*(\d+))\s*\$?$")


def _read_fraction(text: str) -> tuple[int, int] | None:
    m = _FRACTION.match(text.strip())
    if not m:
        return None
    p, q = (m.group(2), m.group(3)) if m.group(2) else (m.group(4), m.group(5))
    return (-int(p) if m.group(1) else int(p)), int(q)


def _fraction(q: str) -> Solved | None:
    m = re.search(r"Simplify the fraction \$?(?:\\[dt]?frac\{(\d+)\}\{(\d+)\}|(\d+)/(\d+))\$? to its lowest terms", q)
    if not m:
        return None
    num, den = (m.group(1), m.group(2)) if m.group(1) else (m.group(3), m.group(4))
    if int(den) == 0:
        return None
    value = Fraction(int(num), int(den))

    def accepts(a: str) -> bool:
        got = _read_fraction(a)
        if got is None:  # a whole number is the lowest terms of n/1
            n = _parse_int(a)
            return n is not None and value.denominator == 1 and n == value.numerator
        p, d = got
        return d != 0 and (p, d) == (value.numerator, value.denominator)

    return Solved(f"{value.numerator}/{value.denominator}", accepts)


def _linear(expr: str, var: str, x: Fraction) -> Fraction | None:
    """`expr` (integers, the unknown, + - *, brackets) at var = x; None for anything else."""
    try:
        tree = ast.parse(expr.strip().replace("^", "**"), mode="eval")
    except SyntaxError:
        return None

    def ev(node: ast.AST) -> Fraction:
        if isinstance(node, ast.Expression):
            return ev(node.body)
        if isinstance(node, ast.Constant) and type(node.value) is int:
            return Fraction(node.value)
        if isinstance(node, ast.Name) and node.id == var:
            return x
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            v = ev(node.operand)
            return -v if isinstance(node.op, ast.USub) else v
        if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub, ast.Mult)):
            a, b = ev(node.left), ev(node.right)
            return a + b if isinstance(node.op, ast.Add) else a - b if isinstance(node.op, ast.Sub) else a * b
        raise ValueError("not a linear expression")

    try:
        return ev(tree)
    except ValueError:
        return None


def _equation(q: str) -> Solved | None:
    m = re.search(r"(?:Solve for ([a-z])|Find the value of ([a-z]) in the equation|Determine the value of ([a-z]) "
                  r"that satisfies):\s*([0-9a-z+\-*()\s]+)=([0-9a-z+\-*()\s]+?)\s*\.?\s*$", q.strip())
    if not m:
        return None
    var = m.group(1) or m.group(2) or m.group(3)
    lhs, rhs = m.group(4), m.group(5)
    f = [None if (a := _linear(lhs, var, Fraction(x))) is None or (b := _linear(rhs, var, Fraction(x))) is None
         else a - b for x in (0, 1, 2)]
    if None in f:
        return None
    f0, f1, f2 = f
    slope = f1 - f0
    if slope == 0 or f2 - f1 != slope:  # no unique solution, or not linear (x*x)
        return None
    value = -f0 / slope
    ref = str(value.numerator) if value.denominator == 1 else f"{value.numerator}/{value.denominator}"

    def accepts(a: str) -> bool:
        a = re.sub(rf"^\s*{var}\s*=\s*", "", a.strip())
        got = _read_fraction(a)
        if got is not None:
            return got[1] != 0 and Fraction(*got) == value
        try:
            return Fraction(a.replace(",", "")) == value
        except (ValueError, ZeroDivisionError):
            return False

    return Solved(ref, accepts)


def _shift(text: str, k: int) -> str:
    return "".join(chr((ord(c) - 65 + k) % 26 + 65) if "A" <= c <= "Z" else c for c in text)


def _caesar(q: str) -> Solved | None:
    m = re.search(r"Decrypt this Caesar cipher text: (.+?)\.? Provide only the decrypted text", q, re.S)
    if not m:
        return None
    cipher = " ".join(m.group(1).upper().split())
    plains = [_shift(cipher, k) for k in range(26)]

    def accepts(a: str) -> bool:
        # Letters outside A-Z (the 'Ë' of 'AËRIAL') are shifted differently by different generators: only the
        # A-Z letters of the answer are held to a shift of the cipher text.
        said = " ".join(a.upper().split()).rstrip(".")
        return any(len(p) == len(said) and all(x == y for x, y in zip(p, said) if "A" <= y <= "Z") for p in plains)

    return Solved(f"one of the 26 shifts of '{cipher[:60]}'", accepts)


def _backward(q: str) -> Solved | None:
    m = re.search(r"Spell this word backward \(example: sun -> nus\): (\S+?)\s*$", q.strip())
    if not m:
        return None
    value = m.group(1)[::-1]
    return Solved(value, lambda a: a.strip() == value)


def _word_sorting(q: str) -> Solved | None:
    m = re.search(r"sort these words in (ascending|descending) order \(using ASCII/Unicode ordering\) and return "
                  r"them as a comma-separated list:\s*(.+?)\s*$", q.strip(), re.S)
    if not m:
        return None
    words = [w.strip() for w in m.group(2).split(",") if w.strip()]
    value = sorted(words, reverse=m.group(1) == "descending")

    def accepts(a: str) -> bool:
        return [w.strip() for w in a.strip().rstrip(".").split(",")] == value

    return Solved(", ".join(value), accepts)


def _course_schedule(q: str) -> Solved | None:
    m = re.search(r"There are a total of (\d+) courses.*?prerequisites\[i\] = \(a_i, b_i\) indicates that you must "
                  r"first take course b_i.*?:\s*\[([^\]]*)\].*?Return True if you can finish all courses", q, re.S)
    if not m:
        return None
    n = int(m.group(1))
    edges = [(int(a), int(b)) for a, b in re.findall(r"\((\d+),\s*(\d+)\)", m.group(2))]
    needs: dict[int, set[int]] = {i: set() for i in range(n)}
    for a, b in edges:
        needs.setdefault(a, set()).add(b)
        needs.setdefault(b, set())
    taken: set[int] = set()
    while True:  # take every course whose prerequisites are taken, until none is left or none can be taken
        ready = {c for c, pre in needs.items() if c not in taken and pre <= taken}
        if not ready:
            break
        taken |= ready
    value = len(taken) == len(needs)
    words = {"true": True, "yes": True, "false": False, "no": False}
    return Solved(str(value), lambda a: words.get(a.strip().rstrip(".").lower()) is value)


def _grid(text: str, size: int) -> list[list[int]] | None:
    rows = [ln.split() for ln in text.strip().splitlines() if ln.strip()]
    rows = [r for r in rows if len(r) == size and all(x.isdigit() or x == "_" for x in r)]
    if len(rows) < size:
        return None
    return [[int(x) if x.isdigit() else 0 for x in r] for r in rows[-size:]]


def _mini_sudoku(q: str) -> Solved | None:
    m = re.search(r"Solve this 4x4 Mini Sudoku puzzle:\n((?:[1-4_](?: [1-4_]){3}\n?){4})", q)
    givens = _grid(m.group(1), 4) if m else None
    if givens is None:
        return None

    def accepts(reply: str) -> bool:
        g = _grid(reply, 4)
        if g is None:
            return False
        units = [row for row in g] + [[g[r][c] for r in range(4)] for c in range(4)] + \
                [[g[r][c] for r in (br, br + 1) for c in (bc, bc + 1)] for br in (0, 2) for bc in (0, 2)]
        return all(sorted(u) == [1, 2, 3, 4] for u in units) and \
            all(givens[r][c] in (0, g[r][c]) for r in range(4) for c in range(4))

    return Solved("a 4x4 grid that keeps the givens with 1-4 once in every row, column and box", accepts,
                  whole_reply=True)


_MOVES = {"up": (-1, 0), "down": (1, 0), "left": (0, -1), "right": (0, 1)}


def _shortest_path(q: str) -> Solved | None:
    m = re.search(r"find the shortest path from \* to # in the following grid:\n((?:[*#OX](?: [*#OX])*\n?)+)", q)
    if not m:
        return None
    grid = [ln.split() for ln in m.group(1).strip().splitlines()]
    cells = {(r, c): v for r, row in enumerate(grid) for c, v in enumerate(row)}
    starts = [p for p, v in cells.items() if v == "*"]
    if len(starts) != 1 or sum(v == "#" for v in cells.values()) != 1:
        return None
    dist, frontier = {starts[0]: 0}, [starts[0]]
    while frontier:  # breadth-first: the length of a shortest path to every reachable cell
        nxt = []
        for r, c in frontier:
            for dr, dc in _MOVES.values():
                p = (r + dr, c + dc)
                if cells.get(p) in ("O", "#") and p not in dist:
                    dist[p] = dist[(r, c)] + 1
                    nxt.append(p)
        frontier = nxt
    goal = next(p for p, v in cells.items() if v == "#")
    best = dist.get(goal)

    def accepts(a: str) -> bool:
        words = a.strip().rstrip(".").lower().split()
        if best is None:
            return words == ["infeasible"]
        if len(words) != best or any(w not in _MOVES for w in words):
            return False
        r, c = starts[0]
        for w in words:
            r, c = r + _MOVES[w][0], c + _MOVES[w][1]
            if cells.get((r, c)) not in ("O", "#"):
                return False
        return (r, c) == goal

    return Solved("infeasible" if best is None else f"a path of {best} moves through open cells", accepts)


SOLVERS: tuple[Callable[[str], Solved | None], ...] = (
    _base_conversion, _bit_count, _prime_factorization, _gcd_lcm, _fraction, _equation, _caesar, _backward,
    _word_sorting, _course_schedule, _mini_sudoku, _shortest_path)


# ---------------------------------------------------------------------------------------------------- the checker

def solve(question: str) -> Solved | None:
    """The first solver that recognises `question`, with what it derived; None when none does, and for a question
    that lists options (its answer is a letter: the MCQ checker's business)."""
    if listed_options(question):
        return None
    for solver in SOLVERS:
        solved = solver(question)
        if solved is not None:
            return solved
    return None


def stated_answer(response: str, answer_pattern: str | None = None) -> str | None:
    """The answer a reply states, read only where that is unambiguous: a strict final-answer form, or the whole
    reply when it is one line (these puzzles' sources answer bare)."""
    said = extract_answer(response, answer_pattern, numeric=False)
    if said is not None:
        return said
    lines = [ln for ln in response.strip().splitlines() if ln.strip()]
    return lines[0].strip() if len(lines) == 1 else None


def check_solvable(question: str, response: str, answer_pattern: str | None = None) -> CheckResult | None:
    """None when no solver recognises the question (most questions: nothing to report)."""
    solved = solve(question)
    if solved is None:
        return None
    said = response if solved.whole_reply else stated_answer(response, answer_pattern)
    if said is None:
        return CheckResult(NAME, "skip", "the reply states no answer that can be read with confidence",
                           solved.reference)
    if solved.accepts(said):
        return CheckResult(NAME, "pass", f"the question determines its answer: {solved.reference}", solved.reference)
    return CheckResult(NAME, "fail", f"answer '{said[:80]}' but the question determines {solved.reference}",
                       solved.reference)
