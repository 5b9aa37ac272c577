"""What a pool task is and how its files are made.

A pool task is a kitchen-like folder (task.yaml, benchmark.jsonl, sources/*.jsonl, README.md, pool.json and, where
one is worth writing, expert_recipe.yaml) built offline and deterministically from data shipped in PyPI packages.
Every task offers the chef the same mix the paper's pool has: real in-domain data, near-domain data, off-task data,
data in another language, and deliberately flawed variants of the in-domain data (wrong answers, blank or truncated
answers, heavy duplication, held-out items planted). `pool.json` says which source is which (the chef never sees
it: its descriptions name a trap only as a catalogue would) and which sources hold planted held-out items.
"""
from __future__ import annotations

import hashlib
import json
import random
import re
from dataclasses import dataclass, field
from typing import Any, Literal, Sequence

import yaml

from ..answers import format_mcq
from ..kitchens.common import to_jsonl as kitchen_jsonl
from ..errors import DatachefError
from ..spec import Recipe, TaskSpec

Row = dict[str, Any]
Split = Literal["train", "heldout-id", "heldout-ood"]
SPLITS: tuple[str, ...] = ("train", "heldout-id", "heldout-ood")
SourceKind = Literal["in-domain", "near-domain", "off-task", "other-language", "wrong-answers", "blank-answers",
                     "duplicates", "planted-heldout"]

BENCH_SIZE = 200       # items per benchmark (unless a task has fewer to offer)
DEV = 50               # of which the first are the dev set
N_ROWS = 600           # rows per generated source
WRONG_RATE = 0.5       # share of rows whose answer is replaced by another row's
BLANK_RATE = 0.5       # share of rows whose answer is blank or cut short
DUPE_BASES = 40        # distinct rows a duplicated source repeats
PLANT_RATE = 0.05      # share of a leaky source's rows that are held-out benchmark items


class PoolError(DatachefError):
    """A pool task is unknown or could not be built."""


def sub_seed(task: str, seed: int, name: str) -> int:
    """A per-(task, seed, part) seed that does not depend on Python's hash randomisation."""
    digest = hashlib.sha256(f"datachef-pool:{task}:{seed}:{name}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFF_FFFF


def normalise(text: Any) -> str:
    """Question text as the pool compares it: lower case, whitespace collapsed."""
    return " ".join(str(text).lower().split())


@dataclass(frozen=True)
class PoolSource:
    id: str
    description: str  # what the chef sees: catalogue-style, names a trap only as a user could see it
    kind: SourceKind
    rows: list[Row]
    planted: bool = False  # holds held-out benchmark items on purpose (labelled leaky in pool.json)


@dataclass
class TaskBuild:
    """What a task's builder returns; `files()` turns it into the folder's bytes."""

    name: str
    instruction: str
    benchmark_name: str
    benchmark_description: str
    format: Literal["numeric", "mcq", "code", "free"]
    benchmark: list[Row]
    sources: list[PoolSource]
    readme: str
    fields: dict[str, Any] = field(default_factory=lambda: {"question": "question", "answer": "answer"})
    answer_pattern: str | None = None
    dev: int = DEV
    budget: dict[str, int] = field(default_factory=lambda: {"train_samples": 1000, "reward_samples": 100})
    expert_recipe: dict[str, Any] | None = None


def to_jsonl(rows: Sequence[Row]) -> bytes:
    return kitchen_jsonl(rows)


# ------------------------------------------------------------------------------------------------- flaw variants

def disjoint(rows: Sequence[Row], bench: Sequence[Row], key: str = "question") -> list[Row]:
    """`rows` without any whose question is a benchmark question, and without repeats (first kept)."""
    seen = {normalise(b[key]) for b in bench}
    out = []
    for r in rows:
        k = normalise(r[key])
        if k not in seen:
            seen.add(k)
            out.append(r)
    return out


def _with_answer(row: Row, answer: str) -> Row:
    """`row` with its answer replaced, in the answer field and on a final '#### ' line of its solution."""
    new = dict(row)
    old = str(row["answer"])
    new["answer"] = answer
    if "solution" in row:
        new["solution"] = re.sub(r"####\s*.*$", f"#### {answer}", str(row["solution"]), flags=re.S) \
            if "####" in str(row["solution"]) else str(row["solution"]).replace(old, answer)
    return new


def wrong_answers(rows: Sequence[Row], rng: random.Random, rate: float = WRONG_RATE) -> list[Row]:
    """A share `rate` of rows get another row's (different) answer: confident, well-formed and wrong."""
    out = [dict(r) for r in rows]
    answers = [str(r["answer"]) for r in rows]
    for i in sorted(rng.sample(range(len(out)), round(len(out) * rate))):
        others = [a for a in answers if a != str(rows[i]["answer"])]
        if others:
            out[i] = _with_answer(rows[i], rng.choice(others))
    return out


def blank_answers(rows: Sequence[Row], rng: random.Random, rate: float = BLANK_RATE) -> list[Row]:
    """A share `rate` of rows lose their answer (empty, '?', 'n/a') or have it cut off halfway."""
    out = [dict(r) for r in rows]
    for i in sorted(rng.sample(range(len(out)), round(len(out) * rate))):
        target = "solution" if "solution" in out[i] else "answer"
        text = str(out[i][target])
        out[i][target] = text[: len(text) // 2].rstrip() if len(text) > 12 and rng.random() < 0.5 else \
            rng.choice(["", "?", "n/a"])
        if target == "solution":
            out[i]["answer"] = ""
    return out


def duplicated(rows: Sequence[Row], rng: random.Random, n: int, bases: int = DUPE_BASES) -> list[Row]:
    """`n` rows drawn (with repeats) from only `bases` distinct ones."""
    picked = list(rows[:bases])
    out = [dict(r) for r in picked] + [dict(rng.choice(picked)) for _ in range(max(0, n - len(picked)))]
    rng.shuffle(out)
    return out


def planted(rows: Sequence[Row], heldout_rows: Sequence[Row], rng: random.Random,
            rate: float = PLANT_RATE) -> list[Row]:
    """`rows` with a share `rate` replaced by held-out benchmark items (already in the source's row format)."""
    k = min(len(heldout_rows), max(1, round(len(rows) * rate)))
    out = [dict(r) for r in rows[: len(rows) - k]] + [dict(r) for r in rng.sample(list(heldout_rows), k)]
    rng.shuffle(out)
    return out


def mcq_row(item: Row) -> Row:
    """A benchmark MCQ item (question, choices, answer letter) as a source row: the options written into the
    question, as raw MCQ collections store them."""
    return {"question": format_mcq(str(item["question"]), item["choices"]), "answer": str(item["answer"])}


def standard_sources(task: str, seed: int, *, stem: str, describe: str, clean: Sequence[Row],
                     heldout_rows: Sequence[Row], extra: Sequence[PoolSource] = (),
                     n: int = N_ROWS) -> list[PoolSource]:
    """The in-domain source `stem` and its four flawed variants, then `extra` (near-domain, off-task, another
    language). With at least 5 * n `clean` rows (disjoint from the benchmark) each variant gets rows of its own;
    with fewer, as with small collections, the variants are other copies of the same collection (each a seeded
    sample of n rows), as mirrors of one dataset are. `heldout_rows` are the benchmark's held-out items in the
    source's row format, planted in `<stem>_web`."""
    def rng(name: str) -> random.Random:
        return random.Random(sub_seed(task, seed, name))

    if len(clean) >= 5 * n:
        parts = [list(clean[i * n:(i + 1) * n]) for i in range(5)]
    elif len(clean) >= 2 * DUPE_BASES:
        n = min(n, len(clean))
        parts = [list(clean[:n])] + [rng(f"copy{i}").sample(list(clean), n) for i in range(1, 5)]
    else:
        raise PoolError(f"only {len(clean)} in-domain rows (at least {2 * DUPE_BASES} are needed)", source=stem)

    return [
        PoolSource(stem, describe, "in-domain", parts[0]),
        PoolSource(f"{stem}_unverified", f"{describe} Contributed by volunteers; never checked.", "wrong-answers",
                   wrong_answers(parts[1], rng("wrong"))),
        PoolSource(f"{stem}_partial", f"{describe} From a half-finished export; some entries are incomplete.",
                   "blank-answers", blank_answers(parts[2], rng("blank"))),
        PoolSource(f"{stem}_mirrors", f"{describe} Aggregated from several mirrors of the same collection.",
                   "duplicates", duplicated(parts[3], rng("dupes"), n)),
        PoolSource(f"{stem}_web", f"{describe} Merged from web collections of unknown provenance.",
                   "planted-heldout", planted(parts[4], heldout_rows, rng("plant")), planted=True),
        *extra,
    ]


def generic_expert(task: str, stem: str, *, user: str = "{question}", assistant: str = "{answer}",
                   n: int = 1000, why: str = "") -> dict[str, Any]:
    """The expert recipe most pool tasks warrant: the clean in-domain source plus the leaky one after
    decontamination, exact duplicates dropped, rendered as chat, sampled to the budget."""
    leaky = f"{stem}_web"
    return {
        "name": f"{task}-expert",
        "task": task,
        "plan": {
            "training_data": [
                {"source": stem, "sample": n // 2,
                 "reason": "The clean in-domain source." + (f" {why}" if why else "")},
                {"source": leaky, "sample": n // 2,
                 "reason": "Same kind of data of unknown provenance: usable once the benchmark items planted in it "
                           "are removed by decontamination."},
            ],
            "workflow": "Pool the clean and the leaky in-domain sources, drop exact duplicate questions and rows "
                        "without an answer, decontaminate against the benchmark, render question and answer as a "
                        "chat and sample the budget. Left out: volunteer, partial and mirrored copies (wrong, "
                        "blank or repeated answers), near-domain, off-task and other-language sources.",
        },
        "steps": [
            {"id": "clean", "op": "load", "args": {"source": stem}},
            {"id": "web", "op": "load", "args": {"source": leaky}},
            {"id": "pool", "op": "concat", "inputs": ["clean", "web"]},
            {"id": "answered", "op": "filter", "input": "pool",
             "args": {"regex": [{"field": "answer", "pattern": r"\S"}]}},
            {"id": "unique", "op": "dedup_exact", "input": "answered", "args": {"fields": ["question"]}},
            {"id": "decontaminated", "op": "decontaminate", "input": "unique", "args": {"fields": ["question"]}},
            {"id": "chats", "op": "to_chat", "input": "decontaminated",
             "args": {"user": user, "assistant": assistant}},
            {"id": "budget", "op": "sample", "input": "chats", "args": {"n": n, "seed": 0}},
            {"id": "corpus", "op": "shuffle", "input": "budget", "args": {"seed": 0}},
        ],
        "output": "corpus",
    }


# ------------------------------------------------------------------------------------------------------ the files

def task_dict(build: TaskBuild) -> dict[str, Any]:
    return {
        "name": build.name,
        "instruction": build.instruction,
        "benchmark": {
            "name": build.benchmark_name,
            "description": build.benchmark_description,
            "format": build.format,
            "source": {"id": f"{build.name}_benchmark", "uri": "benchmark.jsonl", "format": "jsonl",
                       "description": f"The {build.benchmark_name} benchmark items."},
            "fields": build.fields,
            **({"answer_pattern": build.answer_pattern} if build.answer_pattern else {}),
            "dev": build.dev,
        },
        "sources": [{"id": s.id, "uri": f"sources/{s.id}.jsonl", "format": "jsonl", "description": s.description}
                    for s in build.sources],
        "budget": build.budget,
    }


def pool_metadata(build: TaskBuild, domain: str, split: str) -> dict[str, Any]:
    return {"name": build.name, "domain": domain, "split": split, "benchmark_size": len(build.benchmark),
            "dev": build.dev,
            "sources": [{"id": s.id, "kind": s.kind, "rows": len(s.rows), "planted_heldout": s.planted}
                        for s in build.sources]}


def task_files(build: TaskBuild, domain: str, split: str, seed: int) -> dict[str, bytes]:
    """Every file of the task folder in write order (task.yaml last, so an interrupted prepare never leaves a task
    that points at missing files). The task and the expert recipe are validated first: a pool task that writes an
    invalid file is a bug here, not the user's problem."""
    data = task_dict(build)
    TaskSpec.model_validate(data)
    if len(build.benchmark) < build.dev + 1:
        raise PoolError(f"benchmark has {len(build.benchmark)} items, not more than its dev set", source=build.name)
    files: dict[str, bytes] = {"benchmark.jsonl": to_jsonl(build.benchmark)}
    for s in build.sources:
        if not s.rows:
            raise PoolError("source has no rows", source=s.id)
        files[f"sources/{s.id}.jsonl"] = to_jsonl(s.rows)
    files["README.md"] = build.readme.encode("utf-8")
    files["pool.json"] = (json.dumps(pool_metadata(build, domain, split), indent=2) + "\n").encode("utf-8")
    if build.expert_recipe is not None:
        Recipe.model_validate(build.expert_recipe)
        files["expert_recipe.yaml"] = (f"# Expert recipe of the pool task '{build.name}'.\n" + yaml.safe_dump(
            build.expert_recipe, sort_keys=False, allow_unicode=True, width=120)).encode("utf-8")
    header = (f"# Task '{build.name}' of the datachef task pool (datachef pool prepare {build.name} --seed {seed}).\n"
              "# Sources are under sources/, the benchmark is benchmark.jsonl; README.md describes them.\n")
    files["task.yaml"] = (header + yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=120)).encode()
    return files


def readme(build_name: str, title: str, summary: str, sources: Sequence[PoolSource], *, domain: str, split: str,
           why: str = "", data: str = "") -> str:
    """The task's README.md: what it is, where its data comes from, and every source with its kind."""
    lines = [f"# {title}", "", summary, "", f"- pool task `{build_name}`, domain **{domain}**, split **{split}**"]
    if why:
        lines += [f"- why this split: {why}"]
    if data:
        lines += [f"- data: {data}"]
    lines += ["", "| source | kind | rows | planted held-out items |", "|---|---|---:|---|"]
    lines += [f"| `{s.id}` | {s.kind} | {len(s.rows)} | {'yes' if s.planted else ''} |" for s in sources]
    lines += ["", "The descriptions in task.yaml are what the chef sees; the kinds above are not shown to it.", ""]
    return "\n".join(lines)
