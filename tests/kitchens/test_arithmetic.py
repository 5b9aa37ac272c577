"""The built-in arithmetic kitchen: files, validity, determinism, the worked-solution format, the noise rate each
source promises, no benchmark leakage outside the one contaminated source, and the expert recipe end to end.

The kitchen is built once per module (about 5 s); the determinism check rebuilds it in another process.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from datachef.io import load_recipe, load_task
from datachef.kitchens import list_kitchens, prepare_kitchen
from datachef.kitchens.arithmetic import build

SUMS_LIKE = ("sums", "sums_bare", "sums_long", "sums_unverified", "sums_blank", "sums_spelled", "sums_dupes",
             "sums_leaky")
WORKED = ("sums", "sums_long", "sums_unverified", "sums_blank", "sums_spelled", "sums_dupes", "sums_leaky")
_EXPR = re.compile(r"^Calculate (-?\d+(?: [-+] \d+)+)\.$")


@pytest.fixture(scope="module")
def kitchen(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("arithmetic")
    assert prepare_kitchen("arithmetic", out, seed=0) == out / "task.yaml"
    return out


@pytest.fixture(scope="module")
def files(kitchen) -> dict[str, bytes]:
    return {p.relative_to(kitchen).as_posix(): p.read_bytes() for p in sorted(kitchen.rglob("*")) if p.is_file()}


def rows_of(kitchen: Path, rel: str) -> list[dict]:
    path = kitchen / (rel if rel.endswith(".jsonl") else f"sources/{rel}.jsonl")
    return [json.loads(line) for line in path.read_text().splitlines()]


def value(question: str) -> int:
    """The true result of a 'Calculate a + b - c.' question, computed here independently of the kitchen."""
    m = _EXPR.match(question)
    assert m, question
    tokens = m.group(1).split()
    total = int(tokens[0])
    for op, v in zip(tokens[1::2], tokens[2::2]):
        total = total + int(v) if op == "+" else total - int(v)
    return total


def wrong_steps(solution: str) -> list[str]:
    """The running-total lines of a worked solution that do not hold, after checking that each line carries the
    previous line's total on and that the '####' line repeats the last total."""
    *lines, final = solution.splitlines()
    assert lines and re.fullmatch(r"#### -?\d+", final), solution
    wrong, total = [], None
    for line in lines:
        lhs, rhs = line.split(" = ")
        assert total is None or lhs.split()[0] == total, solution  # the running total is carried on
        if value(f"Calculate {lhs}.") != int(rhs):
            wrong.append(line)
        total = rhs
    assert final == f"#### {total}", solution
    return wrong


# --------------------------------------------------------------------------------------------------- task & files

def test_listed_and_task_is_valid(kitchen):
    assert "arithmetic" in {k.name for k in list_kitchens()}
    task = load_task(kitchen / "task.yaml")
    b = task.benchmark
    assert (task.name, b.format, b.dev, b.source.uri) == ("arithmetic", "numeric", build.DEV, "benchmark.jsonl")
    assert b.answer_pattern == r"####\s*(.+)$" and "'#### <integer>'" in task.instruction
    assert [s.id for s in task.sources] == [s.id for s in build.SOURCES] and len(task.sources) == 10
    for s in task.sources:
        assert s.uri == f"sources/{s.id}.jsonl" and s.description.endswith(".") and len(s.description) < 250
    assert all(f"`{s.id}`" in (kitchen / "README.md").read_text() for s in task.sources)


def test_prepared_files(files):
    assert set(files) == {"task.yaml", "benchmark.jsonl", "README.md", "expert_recipe.yaml",
                          *(f"sources/{s.id}.jsonl" for s in build.SOURCES)}


def test_benchmark_loads_with_dev_and_held_out_parts(kitchen):
    from datachef.sources import load_benchmark

    dev, held_out = load_benchmark(load_task(kitchen / "task.yaml"))
    assert (len(dev), len(held_out)) == (build.DEV, build.N_BENCH - build.DEV)
    questions = [it["question"] for it in dev + held_out]
    assert len(set(questions)) == len(questions)
    for it in dev + held_out:
        # GSM8K-style gold: a worked solution whose steps hold and whose '####' line is the result
        assert int(it["result"]) == value(it["question"]) and it["question"] == f"Calculate {it['expression']}."
        assert wrong_steps(it["answer"]) == [] and it["answer"].endswith(f"\n#### {it['result']}")
        n_terms = len(it["expression"].split()) // 2 + 1
        assert build.BENCH_TERMS[0] <= n_terms <= build.BENCH_TERMS[1]
        # short questions: fewer words than decontamination's 8-gram, so it compares them whole
        assert len(it["question"].split()) < 8


def test_every_source_is_valid_jsonl_with_one_schema(kitchen):
    for s in build.SOURCES:
        rows = rows_of(kitchen, s.id)
        assert len(rows) == build.N_ROWS, s.id
        assert len({tuple(r) for r in rows}) == 1, s.id
        assert all(isinstance(v, str) for r in rows for v in r.values()), s.id


# --------------------------------------------------------------------------------------------------------- sources

@pytest.mark.parametrize("source", ["sums", "sums_bare", "sums_long", "sums_dupes", "sums_leaky"])
def test_clean_sources_are_correct(kitchen, source):
    rows = rows_of(kitchen, source)
    assert set(rows[0]) == ({"question", "answer"} if source == "sums_bare" else {"question", "solution", "answer"})
    for r in rows:
        assert int(r["answer"]) == value(r["question"]), r
        if source != "sums_bare":
            assert wrong_steps(r["solution"]) == [] and r["solution"].endswith(f"\n#### {r['answer']}")


def test_long_sums_are_another_difficulty(kitchen):
    for r in rows_of(kitchen, "sums_long"):
        numbers = re.findall(r"\d+", r["question"])
        assert 5 <= len(numbers) <= 6 and all(3 <= len(n) <= 4 for n in numbers)


def test_unverified_slipped_step_rate(kitchen):
    rows = rows_of(kitchen, "sums_unverified")
    wrong = [r for r in rows if int(r["answer"]) != value(r["question"])]
    assert len(wrong) == round(len(rows) * build.WRONG_ANSWER_RATE) == 600
    for r in rows:  # one slipped step (off by 1-10) carried on to the result, which 'answer' repeats
        slips = wrong_steps(r["solution"])
        assert len(slips) == (r in wrong) and r["solution"].endswith(f"\n#### {r['answer']}")
        assert r not in wrong or 1 <= abs(int(r["answer"]) - value(r["question"])) <= 10


def test_blank_answer_rate(kitchen):
    rows = rows_of(kitchen, "sums_blank")
    blank = [r for r in rows if not re.fullmatch(r"-?\d+", r["answer"])]
    assert len(blank) == round(len(rows) * build.BLANK_ANSWER_RATE) == 720
    assert {r["answer"] for r in blank} <= {"", "?", "n/a"} and all(r["solution"] == r["answer"] for r in blank)
    assert all(int(r["answer"]) == value(r["question"]) and wrong_steps(r["solution"]) == []
               for r in rows if r not in blank)


def test_spelled_answer_rate(kitchen):
    rows = rows_of(kitchen, "sums_spelled")
    spelled = [r for r in rows if not re.fullmatch(r"-?\d+", r["answer"])]
    assert len(spelled) == round(len(rows) * build.SPELLED_ANSWER_RATE) == 840
    for r in spelled:  # right working and results, in words
        assert r["answer"] == build.spell(value(r["question"])) and not re.search(r"\d", r["solution"])
        assert r["solution"].endswith(f"\n#### {r['answer']}")
    assert all(wrong_steps(r["solution"]) == [] for r in rows if r not in spelled)


def test_spell():
    assert [build.spell(n) for n in (0, 14, 40, -46, 105, 2019)] == [
        "zero", "fourteen", "forty", "minus forty-six", "one hundred and five", "two thousand nineteen"]
    assert build.spelled_out("41 - 7 + 15") == ("Forty-one minus seven is thirty-four.\n"
                                                "Thirty-four plus fifteen is forty-nine.\n#### forty-nine")


def test_worked_and_slipped_solutions():
    assert build.worked("41 - 7 + 15") == "41 - 7 = 34\n34 + 15 = 49\n#### 49"
    assert build.worked("41 - 7 + 15", slip=(0, 2)) == "41 - 7 = 36\n36 + 15 = 51\n#### 51"  # carried on


def test_dupes_repeat_few_problems(kitchen):
    rows = rows_of(kitchen, "sums_dupes")
    counts = Counter(r["question"] for r in rows)
    assert len(counts) == build.N_DUPE_BASES and max(counts.values()) > 5


def test_off_task_sources(kitchen):
    assert all("letter" in r["question"] and r["answer"].isdigit() for r in rows_of(kitchen, "letter_counting"))
    for r in rows_of(kitchen, "spell_backward"):
        assert r["answer"][::-1] in r["question"]


def test_no_benchmark_leakage_except_planted(kitchen):
    bench = rows_of(kitchen, "benchmark.jsonl")
    dev = {b["question"] for b in bench[:build.DEV]}
    held_out = {b["question"] for b in bench[build.DEV:]}
    # compared the way decontamination sees them: the numbers in order (operators and case dropped)
    bench_keys = {build.numbers_key(b["expression"]) for b in bench}
    for s in build.SOURCES:
        for r in rows_of(kitchen, s.id):
            q = r["question"]
            if s.id == "sums_leaky" and q in held_out:
                continue
            assert q not in dev | held_out, (s.id, q)
            if s.id in SUMS_LIKE:
                assert build.numbers_key(q) not in bench_keys, (s.id, q)
    planted = [r for r in rows_of(kitchen, "sums_leaky") if r["question"] in held_out]
    assert len(planted) == build.N_LEAK
    gold = {b["question"]: (b["answer"], b["result"]) for b in bench}
    assert all((r["solution"], r["answer"]) == gold[r["question"]] for r in planted)


def test_the_contamination_rule_flags_exactly_the_planted_rows(kitchen):
    """What decontaminate and the verifier's gate see, over every field of every source row."""
    from datachef.engine import load_benchmark_index
    from datachef.ops.decontaminate import row_pieces

    index = load_benchmark_index(load_task(kitchen / "task.yaml"))
    held_out = {b["question"] for b in rows_of(kitchen, "benchmark.jsonl")[build.DEV:]}
    for s in build.SOURCES:
        for r in rows_of(kitchen, s.id):
            leak = index.match(row_pieces(r, list(r)))
            assert (leak is not None) == (s.id == "sums_leaky" and r["question"] in held_out), (s.id, r, leak)


# ---------------------------------------------------------------------------------------------------- determinism

def test_rebuild_in_another_process_is_byte_identical(files):
    code = ("import hashlib, json; from datachef.kitchens.arithmetic import build_files; f = build_files(0); "
            "print(json.dumps([list(f), {k: hashlib.sha256(v).hexdigest() for k, v in f.items()}]))")
    env = dict(os.environ, PYTHONHASHSEED="12345")  # set iteration order differs from this process's
    out = subprocess.run([sys.executable, "-W", "ignore", "-c", code], env=env, capture_output=True, text=True,
                         check=True, timeout=120)
    order, digests = json.loads(out.stdout.strip().splitlines()[-1])
    assert order[-1] == "task.yaml"  # written last: an interrupted prepare leaves no complete-looking task
    assert digests == {k: hashlib.sha256(v).hexdigest() for k, v in files.items()}


def test_seed_changes_the_data():
    ctx0 = build.BuildContext(seed=0, bench=build.build_benchmark(0))
    ctx1 = build.BuildContext(seed=1, bench=build.build_benchmark(1))
    assert ctx0.bench != ctx1.bench
    assert build.build_sums(ctx0) == build.build_sums(ctx0) != build.build_sums(ctx1)


# ------------------------------------------------------------------------------------------------- expert recipe

def test_expert_recipe_runs_clean(kitchen, tmp_path):
    from datachef.engine import run_recipe

    task = load_task(kitchen / "task.yaml")
    recipe = load_recipe(kitchen / "expert_recipe.yaml")
    assert recipe.task == "arithmetic"
    assert {p.source for p in recipe.plan.training_data} == {s.args["source"] for s in recipe.steps if s.op == "load"}
    manifest = run_recipe(recipe, task, tmp_path / "run", cache_dir=tmp_path / "cache", progress=False)
    records = [json.loads(line) for line in (tmp_path / "run" / "data.jsonl").read_text().splitlines()]
    assert manifest.output.records == len(records) == task.budget.train_samples
    bench = {b["question"] for b in rows_of(kitchen, "benchmark.jsonl")}
    for rec in records:
        user, assistant = rec["messages"][-2]["content"], rec["messages"][-1]["content"]
        assert user not in bench  # the planted test items were decontaminated
        assert wrong_steps(assistant) == [] and assistant.endswith(f"\n#### {value(user)}")  # correct, worked
    assert len({r["messages"][-2]["content"] for r in records}) == len(records)
