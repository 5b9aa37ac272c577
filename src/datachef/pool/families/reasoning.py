"""Training tasks from reasoning-gym generators: math, logic, graphs, puzzles, strings, dates and code reasoning.

Each task's benchmark is 200 items of one generator (seeded), its in-domain data more items of the same generator
with other seeds (no benchmark question repeated), its near-domain data a related generator, its off-task data an
unrelated one, its other-language data a European exam set of OpenAI evals, and four flawed copies of the
in-domain data (see `task.standard_sources`). The generators' own answers are exact, so every source's gold is
right where it is meant to be.

codeio is special: its items quote a program, so two items of the same program with other inputs are the same
benchmark item to decontamination (most of their 8-grams are the program's). Programs are therefore split:
benchmark items come from one fifth of the programs (by a hash of their code), training items from the others;
the near-domain source (the larger CodeIO-PyEdu 'hq' collection in reasoning-gym, which contains those programs
too) drops every program of the benchmark.
"""
from __future__ import annotations

import functools
import gzip
import hashlib
import importlib.util
import json
import os
import random
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...sources.archives import read_member
from ..registry import PoolTask
from ..task import (BENCH_SIZE, DEV, PoolError, PoolSource, Row, TaskBuild, disjoint, generic_expert, normalise,
                    readme, standard_sources, sub_seed)

N = 400  # rows per source: reasoning-gym questions are long, and 5 in-domain copies are drawn per task
FOREIGN_EXAMS = "evals/registry/data/spanish-exams-qa/samples.jsonl"


@dataclass(frozen=True)
class Spec:
    name: str
    domain: str
    generator: str
    title: str
    instruction: str
    describe: str  # the in-domain source, as a catalogue describes it
    near: str
    near_describe: str
    off: str
    off_describe: str
    format: str = "free"
    config: tuple[tuple[str, Any], ...] = ()


SPECS: list[Spec] = [
    Spec("simple-equations", "math", "simple_equations", "Linear equations",
         "Solve linear equations in one variable; reply with the integer solution only.",
         "Linear equations in one variable with their integer solutions.",
         "basic_arithmetic", "Arithmetic expressions with their values.",
         "word_sorting", "Word lists with their alphabetical order.", format="numeric"),
    Spec("fraction-simplification", "math", "fraction_simplification", "Simplifying fractions",
         "Simplify fractions to lowest terms; reply with the simplified fraction a/b only.",
         "Fractions with their simplest forms.", "gcd", "Greatest common divisors of integer lists.",
         "caesar_cipher", "Caesar-cipher texts with their decryptions."),
    Spec("prime-factorization", "math", "prime_factorization", "Prime factorisation",
         "Factor integers into primes; reply with the factors in ascending order separated by ' × '.",
         "Integers with their prime factorisations.", "lcm", "Least common multiples of integer pairs.",
         "letter_jumble", "Sentences with scrambled letters and their unscrambled form."),
    Spec("base-conversion", "math", "base_conversion", "Number base conversion",
         "Convert numbers between bases 2-16; reply with the converted number only.",
         "Numbers with their conversions into other bases.", "count_bits", "Counts of 1-bits in binary numbers.",
         "family_relationships", "Family-tree puzzles with the relation asked for."),
    Spec("syllogisms", "logic", "syllogism", "Syllogisms",
         "Decide whether a conclusion follows from two premises; reply Yes or No.",
         "Syllogisms with whether the conclusion follows.", "knights_knaves",
         "Knights-and-knaves puzzles with who is a knight or a knave.",
         "base_conversion", "Numbers converted between bases."),
    Spec("knights-knaves", "logic", "knights_knaves", "Knights and knaves",
         "Solve knights-and-knaves puzzles; reply with who is a hero and who is a villain, as the puzzle asks.",
         "Knights-and-knaves puzzles with their solutions.", "self_reference",
         "Self-referential truth puzzles with the number of consistent solutions.",
         "calendar_arithmetic", "Calendar questions with their answers."),
    Spec("shortest-path", "graphs", "shortest_path", "Shortest paths in grids",
         "Find the shortest path through a grid from * to #; reply with the moves (up/down/left/right) separated "
         "by spaces, or 'infeasible'.", "Grid mazes with their shortest paths.", "largest_island",
         "Binary grids with the area of their largest island.", "word_sorting", "Word lists with their order."),
    Spec("course-schedule", "graphs", "course_schedule", "Course prerequisites",
         "Decide whether all courses can be finished given prerequisite pairs (a cycle check); reply True or False.",
         "Course prerequisite lists with whether they can all be finished.", "shortest_path",
         "Grid mazes with their shortest paths.", "caesar_cipher", "Caesar-cipher texts with their decryptions."),
    Spec("family-relations", "graphs", "family_relationships", "Family relations",
         "Answer how two people in a described family are related; reply with the relation in one word.",
         "Family descriptions with the relation asked for.", "course_schedule",
         "Course prerequisite lists with whether they can be finished.",
         "fraction_simplification", "Fractions with their simplest forms."),
    Spec("mini-sudoku", "puzzles", "mini_sudoku", "4x4 sudoku",
         "Solve 4x4 sudoku puzzles; reply with the completed grid, four rows of four digits separated by spaces.",
         "4x4 sudoku puzzles with their solutions.", "n_queens", "N-queens boards with a completed placement.",
         "syllogism", "Syllogisms with whether the conclusion follows."),
    Spec("word-sorting", "strings", "word_sorting", "Sorting words",
         "Sort words in ascending or descending ASCII/Unicode order as asked; reply with the sorted words "
         "separated by ', '.", "Word lists with their sorted order.", "number_sorting",
         "Number lists with their sorted order.", "simple_equations", "Linear equations with their solutions."),
    Spec("caesar-cipher", "strings", "caesar_cipher", "Caesar cipher",
         "Decrypt Caesar-cipher texts; reply with the decrypted text in capital letters.",
         "Caesar-cipher texts with their decryptions.", "spell_backward", "Words with their reversed spelling.",
         "gcd", "Greatest common divisors of integer lists."),
    Spec("calendar-arithmetic", "dates", "calendar_arithmetic", "Calendar arithmetic",
         "Answer questions about dates and weekdays (day of week, days between dates, leap years); reply with the "
         "answer only.", "Calendar questions with their answers.", "time_intervals",
         "Durations between two times or dates.", "word_sorting", "Word lists with their order."),
    Spec("codeio", "code", "codeio", "Code input/output reasoning",
         "Given a Python program and its input (or output), predict the output (or a matching input); reply with "
         "the JSON value only.", "Python programs with an input and the output they produce (or the reverse).",
         "codeio-hq", "Python programs with a description of what they compute and their input/output spec.",
         "syllogism", "Syllogisms with whether the conclusion follows."),
]
_BY_NAME = {s.name: s for s in SPECS}


def _rg(generator: str, size: int, seed: int) -> list[dict[str, Any]]:
    import reasoning_gym  # slow to import: only when a task is built

    return list(reasoning_gym.create_dataset(generator, size=size, seed=seed))


_CODEIO_SCRIPT = """
import json, random, sys
import numpy, reasoning_gym
# Some programs draw from the global generators: seed them, so the outputs are the same on every build.
random.seed(int(sys.argv[2]))
numpy.random.seed(int(sys.argv[2]) % 2**32)
items = list(reasoning_gym.create_dataset("codeio", size=int(sys.argv[1]), seed=int(sys.argv[2])))
with open(sys.argv[3], "w", encoding="utf-8") as f:
    json.dump([{"question": it["question"], "answer": it["answer"]} for it in items], f)
"""


def _codeio_items(size: int, seed: int) -> list[dict[str, Any]]:
    """codeio items, generated in a child process in a scratch folder: generating them runs the collection's
    programs (some print, some write files), which must not touch the caller's folder or output."""
    with tempfile.TemporaryDirectory(prefix="datachef-codeio-") as tmp:
        out = Path(tmp) / "items.json"
        proc = subprocess.run([sys.executable, "-c", _CODEIO_SCRIPT, str(size), str(seed), str(out)], cwd=tmp,
                              capture_output=True, text=True, timeout=900, env={**os.environ, "PYTHONHASHSEED": "0"})
        if proc.returncode != 0 or not out.is_file():
            raise PoolError(f"generating codeio items failed: {proc.stderr.strip()[-500:]}", source="codeio")
        return json.loads(out.read_text(encoding="utf-8"))


def _row(item: dict[str, Any]) -> Row:
    return {"question": str(item["question"]), "answer": str(item["answer"])}


def _code_of(question: str) -> str:
    """The end of a codeio question: both question templates end with the program's code."""
    return normalise(question)[-400:]


def _program_key(item: dict[str, Any]) -> str:
    """A codeio item's program."""
    return hashlib.sha256(_code_of(item["question"]).encode()).hexdigest()


@functools.lru_cache(maxsize=1)
def _foreign_exam_rows() -> tuple[Row, ...]:
    """A Spanish school-exam MCQ set (evals registry): the same chat layout the registry uses everywhere."""
    rows = []
    for line in read_member("evals", FOREIGN_EXAMS).decode("utf-8").splitlines():
        if line.strip():
            item = json.loads(line)
            user = [m["content"] for m in item["input"] if m["role"] == "user"]
            rows.append({"prompt": user[-1].strip(), "ideal": str(item["ideal"])})
    return tuple(rows)


def _hq_rows(exclude_code: set[str], n: int, rng: random.Random) -> list[Row]:
    """Programs of reasoning-gym's CodeIO-PyEdu 'hq' file (read as data) not among the benchmark's programs."""
    spec = importlib.util.find_spec("reasoning_gym")
    if spec is None or not spec.submodule_search_locations:
        raise PoolError("reasoning-gym is not installed")
    path = Path(spec.submodule_search_locations[0]) / "data" / "codeio-hq.jsonl.gz"
    with gzip.open(path, "rt", encoding="utf-8") as f:
        items = json.load(f)  # one JSON array (18 MB), despite the file name
    rows = []
    for item in items:
        code = str(item.get("code_sample", ""))
        tail = normalise(code)[-300:]
        if tail and any(tail in c for c in exclude_code):
            continue
        rows.append({"task": str(item["task_description"]), "io_spec": str(item["input_output_spec"]),
                     "code": code})
    rng.shuffle(rows)
    return rows[:n]


def build(name: str, seed: int) -> TaskBuild:
    spec = _BY_NAME[name]

    def sseed(part: str) -> int:
        return sub_seed(name, seed, part)

    if spec.generator == "codeio":
        # Some programs stay nondeterministic (clocks, object ids, generators of their own): a program with any
        # item that two runs disagree on is left out. Programs go to the benchmark by a hash of their code and rows
        # are ordered by a hash of their text, so an item that still varies between builds changes only itself
        # and its neighbours, never the whole split (a seeded sample over the set of programs reshuffled
        # everything when one program came or went).
        first, second = _codeio_items(3000, sseed("items")), _codeio_items(3000, sseed("items"))
        unstable = {_program_key(a) for a, b in zip(first, second) if a != b}
        items = [it for it in first if _program_key(it) not in unstable]

        def in_benchmark(item: dict[str, Any]) -> bool:
            digest = hashlib.sha256(f"{sseed('programs')}:{_program_key(item)}".encode()).hexdigest()
            return int(digest[:8], 16) % 5 == 0

        def by_text(rows: list[Row]) -> list[Row]:
            return sorted(rows, key=lambda r: hashlib.sha256(r["question"].encode()).hexdigest())

        bench = by_text(disjoint([_row(it) for it in items if in_benchmark(it)], []))[:BENCH_SIZE]
        clean = by_text(disjoint([_row(it) for it in items if not in_benchmark(it)], bench))
        codes = {_code_of(b["question"]) for b in bench}
        near = _hq_rows(codes, N, random.Random(sseed("near")))
    else:
        bench = disjoint([_row(it) for it in _rg(spec.generator, BENCH_SIZE * 2, sseed("benchmark"))], [])
        bench = bench[:BENCH_SIZE]
        clean = disjoint([_row(it) for it in _rg(spec.generator, 6 * N, sseed("clean"))], bench)
        near = disjoint([_row(it) for it in _rg(spec.near, N, sseed("near"))], bench)
    if len(bench) < BENCH_SIZE:
        raise PoolError(f"only {len(bench)} distinct benchmark items", source=spec.generator)
    off = [_row(it) for it in _rg(spec.off, N, sseed("off"))]
    foreign = list(_foreign_exam_rows())
    random.Random(sseed("foreign")).shuffle(foreign)

    stem = spec.generator
    extras = [
        PoolSource(spec.near.replace("-", "_"), spec.near_describe, "near-domain", near),
        PoolSource(spec.off, spec.off_describe, "off-task", off),
        PoolSource("examenes", "Spanish secondary-school exam questions with options and the answer letter.",
                   "other-language", foreign[:N]),
    ]
    sources = standard_sources(name, seed, stem=stem, describe=spec.describe, clean=clean,
                               heldout_rows=bench[DEV:], extra=extras, n=N)
    summary = (f"{spec.title}: reasoning-gym `{spec.generator}` items (benchmark of {len(bench)}, the first {DEV} "
               "the dev set), with in-domain, near-domain, off-task, other-language and flawed sources.")
    return TaskBuild(
        name=name, instruction=spec.instruction, benchmark_name=spec.generator,
        benchmark_description=(f"{len(bench)} reasoning-gym {spec.generator} items (question, answer); scoring "
                               f"compares the reply's final answer with 'answer' ({spec.format}). The first {DEV} "
                               "items are the dev set; the rest are held out and must never appear in training "
                               "data."),
        format=spec.format, benchmark=bench, sources=sources,
        readme=readme(name, spec.title, summary, sources, domain=spec.domain, split="train",
                      data=f"reasoning-gym generators `{spec.generator}`, `{spec.near}`, `{spec.off}` (seeded); "
                           f"evals `{FOREIGN_EXAMS}`"),
        budget={"train_samples": 1000, "reward_samples": 100},
        expert_recipe=generic_expert(name, stem),
    )


def _builder(name: str):
    def fn(seed: int) -> TaskBuild:
        return build(name, seed)
    return fn


# builders by name for PoolTask.builder ("module:function")
for _s in SPECS:
    globals()["build_" + _s.name.replace("-", "_")] = _builder(_s.name)

TASKS = [PoolTask(s.name, s.domain, "train", BENCH_SIZE, 8, f"{s.title} (reasoning-gym {s.generator}).",
                  builder=f"{__name__}:build_{s.name.replace('-', '_')}") for s in SPECS]
