"""The knowledge family of the pool (MMLU subject groups, MedMCQA, LogiQA): each task builds, validates, matches its
registry entry, is deterministic, and leaks no held-out benchmark item outside its planted source."""
from __future__ import annotations

import json

import pytest
import yaml

from datachef.ops.contamination import BenchmarkIndex
from datachef.pool.families import common, knowledge
from datachef.pool.task import DEV, normalise, task_files
from datachef.spec import TaskSpec

TASKS = {t.name: t for t in knowledge.TASKS}


@pytest.fixture(scope="module")
def built() -> dict:
    """Every task built once with seed 0: (TaskBuild, files)."""
    out = {}
    for name, task in TASKS.items():
        build = task.build(0)
        out[name] = (build, task_files(build, task.domain, task.split, 0))
    return out


def _jsonl(data: bytes) -> list[dict]:
    return [json.loads(line) for line in data.decode("utf-8").split("\n") if line.strip()]


def _text(row: dict) -> str:
    parts = []
    for v in row.values():
        parts += [str(x) for x in v] if isinstance(v, list) else [str(v)]
    return normalise(" ".join(parts))


def test_registry_entries():
    assert list(TASKS) == ["mmlu-biology", "mmlu-chemistry", "mmlu-history", "mmlu-law", "mmlu-computer-science",
                           "mmlu-medicine", "medmcqa", "logiqa"]
    for task in TASKS.values():
        assert task.split == "train" and task.summary
        assert task.builder == f"datachef.pool.families.knowledge:build_{task.name.replace('-', '_')}"


@pytest.mark.parametrize("name", list(TASKS))
def test_task_builds_and_matches_registry(built, name):
    task = TASKS[name]
    _, files = built[name]
    spec = TaskSpec.model_validate(yaml.safe_load(files["task.yaml"]))
    assert spec.benchmark.format == "mcq" and spec.benchmark.dev == DEV
    bench = _jsonl(files["benchmark.jsonl"])
    assert len(bench) >= 150 and len(bench) == task.benchmark_size
    sources = [rel for rel in files if rel.startswith("sources/")]
    assert len(sources) >= 7 and len(sources) == task.sources
    for item in bench:
        assert len(item["choices"]) == 4 and all(str(c).strip() for c in item["choices"])
        assert item["answer"] in "ABCD" and len(item["answer"]) == 1
    assert len({normalise(b["question"]) for b in bench}) == len(bench)
    meta = json.loads(files["pool.json"])
    kinds = {s["kind"] for s in meta["sources"]}
    assert {"in-domain", "near-domain", "off-task", "other-language", "planted-heldout"} <= kinds
    assert "expert_recipe.yaml" in files and files["README.md"]
    for s in spec.sources:
        assert "wrong" not in s.description.lower() and "leak" not in s.description.lower()


@pytest.mark.parametrize("name", list(TASKS))
def test_no_heldout_item_outside_planted_source(built, name):
    build, files = built[name]
    bench = _jsonl(files["benchmark.jsonl"])
    keys = [normalise(b["question"]) for b in bench[DEV:]]
    index = BenchmarkIndex(bench, choices=["choices"], dev=DEV)  # the rule `decontaminate` applies
    planted_hits = 0
    for source in build.sources:
        rows = _jsonl(files[f"sources/{source.id}.jsonl"])
        contained = sum(1 for r in rows if any(k in _text(r) for k in keys))
        if source.planted:
            planted_hits += contained
        else:
            assert contained == 0, source.id
            assert not [r for r in rows if index.match([p for v in r.values()
                                                        for p in (v if isinstance(v, list) else [v])
                                                        if isinstance(p, str)])], source.id
    assert planted_hits > 0


def test_logiqa_near_source_has_no_benchmark_passage(built):
    build, files = built["logiqa"]
    bench = _jsonl(files["benchmark.jsonl"])
    passages = [b["question"].split("\nQuestion:")[0].removeprefix("Passage: ") for b in bench]
    near = [s for s in build.sources if s.kind == "near-domain"]
    assert len(near) == 1
    grams = common.passage_grams(passages)
    for row in near[0].rows:
        assert not common.shares_passage(row["prompt"], grams)
        assert not any(normalise(p) in normalise(row["prompt"]) for p in passages)


def test_no_heldout_subjects_or_chinese(built):
    for _, files in built.values():
        for rel, data in files.items():
            if rel.startswith("sources/"):
                assert not common.CJK.search(data.decode("utf-8")), rel
                for row in _jsonl(data):
                    assert row.get("subject") not in knowledge.HELDOUT_SUBJECTS, rel


@pytest.mark.parametrize("name", list(TASKS))
def test_deterministic_and_seeded(built, name):
    task = TASKS[name]
    _, files = built[name]
    assert task_files(task.build(0), task.domain, task.split, 0) == files
    other = task_files(task.build(1), task.domain, task.split, 1)
    assert other["benchmark.jsonl"] != files["benchmark.jsonl"]
