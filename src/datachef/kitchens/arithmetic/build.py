"""Source generators for the `arithmetic` kitchen: short integer additions/subtractions (reasoning-gym `chain_sum`)
as the benchmark, and a pool of related, unrelated and noisy sources, all built offline from reasoning-gym.

A kitchen where a 135M model moves within a CPU budget. The task's answers are GSM8K-style worked solutions: a
running total, one 'a op b = c' line per operation, then '#### <result>'. SmolLM2-135M computes one small operation
at a time far more reliably than a whole chain at once (measured: 10% of the benchmark untrained, 13% after 250
bare-result records, 45% after 250 worked ones), so the working is what makes data useful here, and a few hundred
short records move both accuracy and the likelihood of the gold solutions. The sources differ in ways that matter
downstream (worked vs bare results, correct vs slipped steps, missing or spelled-out solutions, repeats, leaks,
off-task).

Benchmark questions are phrased "Calculate <expression>." (at most six words): shorter than the 8-word n-grams of
decontamination, so the decontaminate op compares them whole (one non-number word may differ), which catches copies
and leaves related training questions alone. Every benchmark expression is excluded from every source, except the
few planted in `sums_leaky`.

Everything is a pure function of `seed` (per-source `random.Random` seeded by a hash of (seed, source id)), so a
rebuild is byte-identical.
"""
from __future__ import annotations

import random
import re
from dataclasses import dataclass
from typing import Any, Callable

from ...errors import DatachefError
from ..common import SourceDef, kitchen_files, kitchen_sub_seed, rg_items, source_specs, to_jsonl
from ..common import task_yaml as common_task_yaml

NAME = "arithmetic"
DESCRIPTION = ("Short integer additions and subtractions (reasoning-gym chain_sum), answered with a running-total "
               "worked solution ending in '#### N' (GSM8K style); 10 offline sources: correct, bare-result, harder, "
               "slipped-step, blank, spelled-out, duplicated, leaky and off-task ones. Small enough for a 135M model "
               "to move on CPU (the correlate study's kitchen).")

N_BENCH = 300
DEV = 50
BENCH_TERMS = (2, 3)
BENCH_DIGITS = (1, 2)

# Sizes and noise rates (README.md documents them; the tests check the rates).
N_ROWS = 1200
WRONG_ANSWER_RATE = 0.5
BLANK_ANSWER_RATE = 0.6
SPELLED_ANSWER_RATE = 0.7
N_DUPE_BASES = 60
N_LEAK = 30  # benchmark items (held-out part) planted in sums_leaky

Row = dict[str, Any]


def sub_seed(seed: int, name: str) -> int:
    """A per-source seed that does not depend on Python's hash randomisation."""
    return kitchen_sub_seed(NAME, seed, name)


def _expression(item: Row) -> str:
    return " ".join(str(item["metadata"]["expression"]).split())


def calculate(expression: str) -> str:
    return f"Calculate {expression}."


def numbers_key(expression: str) -> tuple[str, ...]:
    """The numbers of an expression in order: what is left of it once text is normalised the way decontamination
    does (case, punctuation and operators dropped), so "12 - 5" and "12 + 5" are the same question to it."""
    return tuple(re.findall(r"\d+", expression))


def _sums(seed: int, n: int, exclude: set[str], *, terms: tuple[int, int] = (2, 4),
          digits: tuple[int, int] = (1, 2)) -> list[tuple[str, str]]:
    """n distinct chain_sum (expression, answer) pairs none of which looks like an expression of `exclude` to
    decontamination (same numbers in the same order)."""
    out: list[tuple[str, str]] = []
    seen = {numbers_key(e) for e in exclude}
    size = n * 2
    for attempt in range(8):
        items = rg_items("chain_sum", size, seed + attempt, min_terms=terms[0], max_terms=terms[1],
                          min_digits=digits[0], max_digits=digits[1])
        for it in items:
            expr = _expression(it)
            if numbers_key(expr) not in seen:
                seen.add(numbers_key(expr))
                out.append((expr, str(it["answer"])))
                if len(out) == n:
                    return out
    raise DatachefError(f"could not draw {n} distinct sums outside the benchmark", source="chain_sum")


def steps(expression: str, slip: tuple[int, int] | None = None) -> list[tuple[int, str, int, int]]:
    """The running-total steps of an expression: (total so far, operator, operand, new total) per operation.
    `slip` = (step index, error): that step's result is off by `error` and later steps carry the wrong total on,
    as a careless hand would."""
    tokens = expression.split()
    total = int(tokens[0])
    out = []
    for i, (op, value) in enumerate(zip(tokens[1::2], tokens[2::2])):
        new = total + int(value) if op == "+" else total - int(value)
        if slip is not None and slip[0] == i:
            new += slip[1]
        out.append((total, op, int(value), new))
        total = new
    return out


def _render(running: list[tuple[int, str, int, int]]) -> str:
    return "\n".join(f"{a} {op} {b} = {c}" for a, op, b, c in running) + f"\n#### {running[-1][3]}"


def worked(expression: str, slip: tuple[int, int] | None = None) -> str:
    """A running-total worked solution: one 'a op b = c' line per operation, then '#### <result>'."""
    return _render(steps(expression, slip))


def slipped(expression: str, rng: random.Random) -> tuple[str, str]:
    """A worked solution with one wrong step (off by 1-10; the error carries to the result) and its result."""
    n_ops = len(expression.split()) // 2
    running = steps(expression, (rng.randrange(n_ops), rng.choice([-1, 1]) * rng.randint(1, 10)))
    return _render(running), str(running[-1][3])


_ONES = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
         "seventeen eighteen nineteen").split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()


def spell(n: int) -> str:
    """An integer in English words ('-46' -> 'minus forty-six'), for |n| < 1,000,000."""
    if n < 0:
        return "minus " + spell(-n)
    if n >= 1_000_000:
        raise ValueError(f"cannot spell {n}")
    if n < 20:
        return _ONES[n]
    if n < 100:
        return _TENS[n // 10] + ("" if n % 10 == 0 else "-" + _ONES[n % 10])
    if n < 1000:
        return _ONES[n // 100] + " hundred" + ("" if n % 100 == 0 else " and " + spell(n % 100))
    return spell(n // 1000) + " thousand" + ("" if n % 1000 == 0 else " " + spell(n % 1000))


def spelled_out(expression: str) -> str:
    """The worked solution as a reading workbook writes it: sentences with every number in words, and the result
    in words on the '####' line ('Forty-one minus seven is thirty-four.' ... '#### forty-nine')."""
    lines, result = [], 0
    for a, op, b, result in steps(expression):
        sentence = f"{spell(a)} {'plus' if op == '+' else 'minus'} {spell(b)} is {spell(result)}."
        lines.append(sentence[0].upper() + sentence[1:])
    return "\n".join(lines) + f"\n#### {spell(result)}"


# ------------------------------------------------------------------------------------------------- the sources

@dataclass
class BuildContext:
    seed: int
    bench: list[Row]

    @property
    def bench_expressions(self) -> set[str]:
        return {item["expression"] for item in self.bench}

    def rng(self, name: str) -> random.Random:
        return random.Random(sub_seed(self.seed, name))

    def sums(self, name: str, n: int = N_ROWS, **kw: Any) -> list[tuple[str, str]]:
        return _sums(sub_seed(self.seed, name), n, self.bench_expressions, **kw)


def worked_row(expression: str, answer: str) -> Row:
    return {"question": calculate(expression), "solution": worked(expression), "answer": answer}


def build_sums(ctx: BuildContext) -> list[Row]:
    return [worked_row(e, a) for e, a in ctx.sums("sums")]


def build_sums_bare(ctx: BuildContext) -> list[Row]:
    # Right results without the working the task asks for: a model trained on them answers at once (and, at 135M,
    # mostly wrong: it computes reliably only one step at a time).
    return [{"question": calculate(e), "answer": a} for e, a in ctx.sums("sums_bare")]


def build_sums_long(ctx: BuildContext) -> list[Row]:
    # Longer chains of larger numbers: the same skill and format at a difficulty the benchmark does not ask for.
    return [worked_row(e, a) for e, a in ctx.sums("sums_long", terms=(5, 6), digits=(3, 4))]


def _partly_noisy(ctx: BuildContext, name: str, rate: float,
                  noisy: Callable[[str, str, random.Random], Row]) -> list[Row]:
    """Worked sums of which exactly round(N_ROWS * rate), drawn at random, are `noisy(expression, answer, rng)`."""
    rng = ctx.rng(name)
    pairs = ctx.sums(name)
    chosen = set(rng.sample(range(len(pairs)), round(len(pairs) * rate)))
    return [noisy(e, a, rng) if i in chosen else worked_row(e, a) for i, (e, a) in enumerate(pairs)]


def _slipped_row(expression: str, answer: str, rng: random.Random) -> Row:
    solution, result = slipped(expression, rng)
    return {"question": calculate(expression), "solution": solution, "answer": result}


def _blank_row(expression: str, answer: str, rng: random.Random) -> Row:
    missing = rng.choice(["", "?", "n/a"])
    return {"question": calculate(expression), "solution": missing, "answer": missing}


def _spelled_row(expression: str, answer: str, rng: random.Random) -> Row:
    return {"question": calculate(expression), "solution": spelled_out(expression), "answer": spell(int(answer))}


def build_sums_unverified(ctx: BuildContext) -> list[Row]:
    return _partly_noisy(ctx, "sums_unverified", WRONG_ANSWER_RATE, _slipped_row)


def build_sums_blank(ctx: BuildContext) -> list[Row]:
    return _partly_noisy(ctx, "sums_blank", BLANK_ANSWER_RATE, _blank_row)


def build_sums_spelled(ctx: BuildContext) -> list[Row]:
    # Right working in the wrong form: a model trained on it writes numbers in words, which numeric scoring rejects.
    return _partly_noisy(ctx, "sums_spelled", SPELLED_ANSWER_RATE, _spelled_row)


def build_sums_dupes(ctx: BuildContext) -> list[Row]:
    rng = ctx.rng("sums_dupes")
    bases = ctx.sums("sums_dupes", N_DUPE_BASES)
    rows = [worked_row(e, a) for e, a in bases]
    while len(rows) < N_ROWS:
        rows.append(worked_row(*rng.choice(bases)))
    rng.shuffle(rows)
    return rows


def build_sums_leaky(ctx: BuildContext) -> list[Row]:
    rng = ctx.rng("sums_leaky")
    rows = [worked_row(e, a) for e, a in ctx.sums("sums_leaky", N_ROWS - N_LEAK)]
    for idx in sorted(rng.sample(range(DEV, len(ctx.bench)), N_LEAK)):  # from the held-out part
        item = ctx.bench[idx]
        rows.append({"question": item["question"], "solution": item["answer"], "answer": item["result"]})
    rng.shuffle(rows)
    return rows


def build_letter_counting(ctx: BuildContext) -> list[Row]:
    return [{"question": it["question"], "answer": str(it["answer"])}
            for it in rg_items("letter_counting", N_ROWS, sub_seed(ctx.seed, "letter_counting"))]


def build_spell_backward(ctx: BuildContext) -> list[Row]:
    return [{"question": it["question"], "answer": str(it["answer"])}
            for it in rg_items("spell_backward", N_ROWS, sub_seed(ctx.seed, "spell_backward"))]


_WORKED_FIELDS = "('question'), a running-total worked solution ending in '#### <result>' ('solution') and the result"
SOURCES: list[SourceDef] = [
    SourceDef("sums", f"Short integer additions and subtractions ('Calculate 12 - 5 + 3.') {_WORKED_FIELDS} "
              "('answer').", build_sums),
    SourceDef("sums_bare", "Short integer additions and subtractions with their results only.", build_sums_bare),
    SourceDef("sums_long", "Long chains (5-6 terms) of 3-4 digit additions and subtractions with worked solutions "
              "and results.", build_sums_long),
    SourceDef("sums_unverified", "Integer additions and subtractions with worked solutions typed in by volunteers; "
              "never checked.", build_sums_unverified),
    SourceDef("sums_blank", "Integer additions and subtractions with worked solutions, from a half-finished "
              "worksheet export; many are missing.", build_sums_blank),
    SourceDef("sums_spelled", "Integer additions and subtractions with worked solutions from a children's "
              "reading-and-maths workbook.", build_sums_spelled),
    SourceDef("sums_dupes", "Integer additions and subtractions with worked solutions, aggregated from several "
              "mirrors of the same worksheets.", build_sums_dupes),
    SourceDef("sums_leaky", "More integer additions and subtractions with worked solutions, merged from web "
              "collections of unknown provenance.", build_sums_leaky),
    SourceDef("letter_counting", "How often a letter occurs in a short text, with the count.",
              build_letter_counting),
    SourceDef("spell_backward", "Words to spell backwards, with the reversed word.", build_spell_backward),
]


# ---------------------------------------------------------------------------------------------------- the files

INSTRUCTION = ("Compute short chains of integer additions and subtractions, such as 'Calculate 41 - 7 + 15.': work "
               "through them as a running total, one operation per line ('41 - 7 = 34', '34 + 15 = 49'), then give "
               "the resulting integer on a last line '#### <integer>'.")

BENCHMARK_DESCRIPTION = (f"{N_BENCH} reasoning-gym chain_sum problems: {BENCH_TERMS[0]}-{BENCH_TERMS[1]} integers "
                         f"of {BENCH_DIGITS[0]}-{BENCH_DIGITS[1]} digits joined by + and -, asked as 'Calculate "
                         "<expression>.'; 'answer' is the running-total worked solution ending in '#### <result>' "
                         "('result' holds the integer). Scoring compares the number on the reply's '####' line "
                         f"with the result. The first {DEV} items are the dev set; the rest are held out and must "
                         "never appear in training data.")


def build_benchmark(seed: int) -> list[Row]:
    pairs = _sums(sub_seed(seed, "benchmark"), N_BENCH, set(), terms=BENCH_TERMS, digits=BENCH_DIGITS)
    return [{"question": calculate(e), "answer": worked(e), "result": a, "expression": e} for e, a in pairs]


def task_dict() -> dict[str, Any]:
    return {
        "name": NAME,
        "instruction": INSTRUCTION,
        "benchmark": {
            "name": "chain_sum",
            "description": BENCHMARK_DESCRIPTION,
            "format": "numeric",
            "source": {"id": "chain_sum_test", "uri": "benchmark.jsonl", "format": "jsonl",
                       "description": "Held-out reasoning-gym chain_sum items (question, worked answer, result, "
                                      "expression)."},
            "fields": {"question": "question", "answer": "answer"},
            "answer_pattern": r"####\s*(.+)$",
            "dev": DEV,
        },
        "sources": source_specs(SOURCES),
        "budget": {"train_samples": 1000, "reward_samples": 100},
    }


def task_yaml(seed: int) -> bytes:
    return common_task_yaml(NAME, seed, task_dict(), "Source files are under sources/, the benchmark is "
                            "benchmark.jsonl; README.md describes them.")


def build_files(seed: int = 0) -> dict[str, bytes]:
    """Every file of the prepared kitchen, relative POSIX path -> bytes, in the order they should be written
    (task.yaml last, so an interrupted prepare never leaves a task that points at missing files)."""
    bench = build_benchmark(seed)
    ctx = BuildContext(seed=seed, bench=bench)
    return kitchen_files(__package__, SOURCES, ctx, task_yaml(seed), first={"benchmark.jsonl": to_jsonl(bench)})
