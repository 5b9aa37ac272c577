"""The six held-out pool tasks: they build, validate, match their registry entries, are deterministic, keep their
held-out benchmark items out of every source not marked planted, and their gold answers score as correct."""
from __future__ import annotations

import json

import pytest
import yaml

from datachef.adapt.evaluate import score_item
from datachef.pool.families import heldout_id, heldout_ood
from datachef.pool.task import mcq_row, normalise, task_files
from datachef.spec import TaskSpec

TASKS = {t.name: t for t in heldout_id.TASKS + heldout_ood.TASKS}


@pytest.fixture(scope="module", params=sorted(TASKS))
def built(request):
    task = TASKS[request.param]
    build = task.build(0)
    return task, build, task_files(build, task.domain, task.split, 0)


def _spec(files) -> TaskSpec:
    return TaskSpec.model_validate(yaml.safe_load(files["task.yaml"]))


def _held_texts(build) -> set[str]:
    """The held-out items' text as a training row would carry it (MCQ: question with its lettered options)."""
    held = build.benchmark[build.dev:]
    if build.format == "mcq":
        return {normalise(mcq_row(b)["question"]) for b in held}
    return {normalise(b[build.fields["question"]]) for b in held}


def _row_text(row) -> str:
    return normalise(" ".join(str(v) for v in row.values() if isinstance(v, str)))


def test_registry_entries():
    assert len(TASKS) == 6
    assert {t.split for t in TASKS.values()} == {"heldout-id", "heldout-ood"}
    assert sum(t.split == "heldout-id" for t in TASKS.values()) == 3
    for t in TASKS.values():
        assert t.builder.startswith(f"datachef.pool.families.{t.split.replace('-', '_')}:build_") and t.why


def test_files_validate_and_sizes_match_registry(built):
    task, build, files = built
    spec = _spec(files)
    assert spec.name == task.name and spec.benchmark.format == build.format
    bench = [json.loads(line) for line in files["benchmark.jsonl"].decode().splitlines()]
    assert len(bench) == task.benchmark_size >= (164 if task.name == "humaneval" else 150)
    assert len(spec.sources) == len(build.sources) == task.sources >= 7
    meta = json.loads(files["pool.json"])
    assert meta["split"] == task.split and meta["domain"] == task.domain
    kinds = {s["kind"] for s in meta["sources"]}
    assert {"in-domain", "near-domain", "off-task", "other-language", "wrong-answers", "blank-answers", "duplicates",
            "planted-heldout"} <= kinds
    assert all(s.planted == (s.kind == "planted-heldout") for s in build.sources)
    assert "expert_recipe.yaml" in files and task.why in files["README.md"].decode()
    for s in spec.sources:  # catalogue descriptions never name the trap
        assert not any(w in s.description.lower() for w in ("wrong", "leak", "planted", "contaminat"))


def test_deterministic(built):
    task, _, files = built
    assert task_files(task.build(0), task.domain, task.split, 0) == files
    other = task_files(task.build(1), task.domain, task.split, 1)
    assert other["benchmark.jsonl"] != files["benchmark.jsonl"]


def test_no_heldout_item_outside_planted_sources(built):
    task, build, _ = built
    held = _held_texts(build)
    planted = [s for s in build.sources if s.planted]
    assert any(normalise(r["question"]) in held for s in planted for r in s.rows)
    for s in build.sources:
        if s.planted:
            continue
        assert not held & {normalise(r.get("question", "")) for r in s.rows}, s.id
        text = "\n".join(_row_text(r) for r in s.rows)
        assert not [h for h in held if h in text], s.id


def test_mmath_translations_and_aime2025_only_in_planted_sources():
    build = TASKS["mmath-en"].build(0)
    foreign = {normalise(r["question"]) for lang in heldout_id.MMATH_LANGS for r in heldout_id._mmath(lang)}
    foreign |= {normalise(r["question"]) for r in heldout_id._aime2025()}
    foreign |= {normalise(r["question"]) for r in heldout_id._mmath("en") if r["data_source"] == "AIME2025"}
    for s in build.sources:
        found = foreign & {normalise(r["question"]) for r in s.rows}
        assert s.planted or not found, s.id
        if s.id == "olympiad_multilingual":
            assert found


def _gold_reply(build, item) -> str:
    if build.format == "mcq":
        return f"The answer is {item['answer']}."
    if build.format == "numeric":
        return f"The final answer is $\\boxed{{{item['answer']}}}$."
    return f"```python\n{item['prompt']}{item['canonical_solution']}```"


def test_gold_answers_score_correct(built):
    _, build, files = built
    spec = _spec(files)
    held = build.benchmark[build.dev:]
    items = held[:2] if build.format == "code" else held
    for item in items:
        assert score_item(spec, item, _gold_reply(build, item)).correct, item
    if build.format == "mcq":  # and a wrong letter is wrong
        item = held[0]
        other = next(c for c in "ABCD" if c != item["answer"])
        assert not score_item(spec, item, f"The answer is {other}.").correct
    if build.name == "finance-calc":  # a bare amount or a '####' line, as the instruction asks
        assert score_item(spec, held[0], held[0]["answer"]).correct
        assert score_item(spec, held[0], f"work...\n#### {held[0]['answer']}").correct
