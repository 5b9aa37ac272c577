"""The pool as a whole: its list and split, every task's files against the registry, no held-out item in a
training task's sources, task-instance sampling, the CLI, and the data-package fetcher's errors."""
from __future__ import annotations

import json
import subprocess

import pytest
import yaml
from typer.testing import CliRunner

from datachef.cli import app
from datachef.io import load_task
from datachef.pool import all_tasks, build_files, get_task, prepare_task, tasks_of_split
from datachef.sources.archives import ArchiveError, fetch_archive
from datachef.pool.leaks import find_leaks, planted_items
from datachef.pool.sample import sample_instances
from datachef.spec import TaskSpec

runner = CliRunner()


def test_pool_has_30_tasks_in_8_domains_split_24_3_3():
    tasks = all_tasks()
    assert len(tasks) >= 30
    assert len({t.domain for t in tasks}) >= 8
    assert [len(tasks_of_split(s)) for s in ("train", "heldout-id", "heldout-ood")] == [24, 3, 3]
    # out-of-domain: no training task shares their domain
    train_domains = {t.domain for t in tasks_of_split("train")}
    assert not train_domains & {t.domain for t in tasks_of_split("heldout-ood")}
    assert {t.domain for t in tasks_of_split("heldout-id")} <= train_domains
    assert all(t.why for t in tasks if t.split != "train")


def test_pool_list_json_keys():
    result = runner.invoke(app, ["pool", "list", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert len(rows) == len(all_tasks())
    assert all(set(r) == {"name", "domain", "split", "benchmark_size", "sources"} for r in rows)
    text = runner.invoke(app, ["pool", "list"]).output
    assert "24 train, 3 held-out in-domain, 3 held-out out-of-domain" in text


def test_every_task_matches_the_registry(pool_files):
    for task in all_tasks():
        files = pool_files[task.name]
        assert list(files)[-1] == "task.yaml"
        spec = TaskSpec.model_validate(yaml.safe_load(files["task.yaml"]))
        bench = [line for line in files["benchmark.jsonl"].split(b"\n") if line.strip()] \
            if "benchmark.jsonl" in files else None
        meta = json.loads(files["pool.json"])
        assert (meta["name"], meta["domain"], meta["split"]) == (task.name, task.domain, task.split)
        assert len(spec.sources) == task.sources >= 7, task.name
        assert all(f"sources/{s.id}.jsonl" in files for s in spec.sources), task.name
        if bench is not None:  # the gsm8k kitchen reads GSM8K test from its package
            assert len(bench) == task.benchmark_size >= 150, task.name
        assert task.benchmark_size >= 150
        assert any(s["planted_heldout"] for s in meta["sources"]), task.name


def test_no_heldout_item_in_a_training_tasks_sources(pool_files):
    train = {t.name: pool_files[t.name] for t in tasks_of_split("train")}
    heldout = {t.name: pool_files[t.name] for t in all_tasks() if t.split != "train"}
    leaks = find_leaks(train, heldout)
    assert leaks == [], [(x.heldout_task, x.train_task, x.source, x.row, x.how) for x in leaks[:10]]


def test_the_verifiers_solvers_never_fail_a_right_answer_and_catch_the_volunteers_wrong_ones(pool_files):
    """Every benchmark item and in-domain row of the pool passes (or is skipped by) the solver checker; in the tasks
    whose questions determine their answer, exactly the rows the `_unverified` copy changed fail it."""
    from datachef.pool.task import WRONG_RATE
    from datachef.verifier.solvers import check_solvable

    def rows(files, path):
        return [json.loads(line) for line in files.get(path, b"").split(b"\n") if line.strip()]

    caught = {}
    for task in all_tasks():
        files = pool_files[task.name]
        kinds = {s["id"]: s["kind"] for s in json.loads(files["pool.json"])["sources"]}
        clean = rows(files, "benchmark.jsonl") + [r for s, k in kinds.items() if k == "in-domain"
                                                  for r in rows(files, f"sources/{s}.jsonl")]
        for r in clean:
            if isinstance(r.get("question"), str) and isinstance(r.get("answer"), str):
                res = check_solvable(r["question"], r["answer"])
                assert res is None or res.status != "fail", (task.name, r["question"][-120:], res.detail)
        stem = next(s for s, k in kinds.items() if k == "in-domain")
        volunteers = rows(files, f"sources/{stem}_unverified.jsonl")
        verdicts = [getattr(check_solvable(r["question"], r["answer"]), "status", None) for r in volunteers
                    if isinstance(r.get("question"), str) and isinstance(r.get("answer"), str)]
        if volunteers and verdicts.count("pass") + verdicts.count("fail") == len(volunteers):
            caught[task.name] = (verdicts.count("fail"), round(len(volunteers) * WRONG_RATE))
    assert set(caught) >= {"base-conversion", "caesar-cipher", "course-schedule", "fraction-simplification",
                           "mini-sudoku", "prime-factorization", "shortest-path", "simple-equations",
                           "word-sorting"}, caught
    assert all(failed == changed for failed, changed in caught.values()), caught


def test_the_leak_check_sees_planted_items(pool_files):
    # each held-out task's own planted source reproduces its benchmark: the check would see such rows elsewhere
    for task in all_tasks():
        if task.split != "train":
            files = pool_files[task.name]
            assert planted_items(files, [files]) > 0, task.name


def test_prepare_is_deterministic_and_atomic(tmp_path):
    path = prepare_task("syllogisms", tmp_path / "s")
    before = {p.name: p.read_bytes() for p in (tmp_path / "s").rglob("*") if p.is_file()}
    assert prepare_task("syllogisms", tmp_path / "s") == path  # a re-run is a no-op
    after = {p.name: p.read_bytes() for p in (tmp_path / "s").rglob("*") if p.is_file()}
    assert before == after
    assert build_files("syllogisms", 1)["benchmark.jsonl"] != before["benchmark.jsonl"]
    task = load_task(path)
    assert (tmp_path / "s" / "expert_recipe.yaml").is_file() and task.name == "syllogisms"
    with pytest.raises(Exception, match="different task"):
        prepare_task("syllogisms", tmp_path / "s", seed=1)


def test_pool_prepare_cli(tmp_path):
    result = runner.invoke(app, ["pool", "prepare", "course-schedule", "--out", str(tmp_path / "c")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "c" / "task.yaml").is_file() and (tmp_path / "c" / "pool.json").is_file()
    bad = runner.invoke(app, ["pool", "prepare", "no-such-task", "--out", str(tmp_path / "x")])
    assert bad.exit_code == 2 and "unknown pool task" in bad.output
    both = runner.invoke(app, ["pool", "prepare", "course-schedule", "--all", "--out", str(tmp_path / "y")])
    assert both.exit_code == 2 and "exactly one" in both.output


def test_kitchens_are_members(tmp_path):
    path = prepare_task("arithmetic", tmp_path / "a")
    meta = json.loads((tmp_path / "a" / "pool.json").read_text())
    assert meta["split"] == "train" and get_task("arithmetic").kitchen == "arithmetic"
    assert [s["id"] for s in meta["sources"] if s["planted_heldout"]] == ["sums_leaky"]
    assert load_task(path).name == "arithmetic"


def test_sample_instances(tmp_path):
    dirs = {name: tmp_path / "tasks" / name for name in ("syllogisms", "course-schedule")}
    for name, folder in dirs.items():
        prepare_task(name, folder)
    files = sample_instances(dirs, 40, tmp_path / "inst", seed=3)
    assert len(files) == 40
    index = [json.loads(line) for line in (tmp_path / "inst" / "instances.jsonl").read_text().splitlines()]
    keys = [(r["task"], tuple(sorted(r["sources"]))) for r in index]
    assert len(set(keys)) == 40 and all(r["sources"] for r in index)
    for f, r in zip(files, index):
        task = load_task(f)  # relative paths resolve against the instance file's folder
        assert [s.id for s in task.sources] == r["sources"]
        assert all((f.parent / s.uri).resolve().is_file() for s in task.sources)
        assert (f.parent / task.benchmark.source.uri).resolve().is_file()
    again = sample_instances(dirs, 40, tmp_path / "inst2", seed=3)
    assert [f.read_bytes() for f in files] == [f.read_bytes() for f in again]
    with pytest.raises(Exception, match="distinct task instances"):
        sample_instances(dirs, 10_000, tmp_path / "inst3")


def test_fetch_names_the_package_and_the_folder_when_the_index_fails(tmp_path, monkeypatch):
    monkeypatch.setenv("DATACHEF_CACHE", str(tmp_path))

    def failing(*args, **kwargs):
        return subprocess.CompletedProcess(args, 1, "", "ERROR: Could not find a version (network unreachable)")

    monkeypatch.setattr(subprocess, "run", failing)
    with pytest.raises(ArchiveError) as e:
        fetch_archive("countryinfo")
    assert "countryinfo==" in str(e.value) and str(tmp_path / "packages") in str(e.value)
    assert "network unreachable" in str(e.value)


def test_pool_check_cli_finds_a_planted_leak(tmp_path):
    pool = tmp_path / "pool"
    prepare_task("syllogisms", pool / "syllogisms")
    prepare_task("physics-mcq", pool / "physics-mcq")
    clean = runner.invoke(app, ["pool", "check", str(pool)])
    assert clean.exit_code == 0 and "0 leak(s): 1 training tasks checked against 1 held-out" in clean.output
    item = json.loads((pool / "physics-mcq" / "benchmark.jsonl").read_text().splitlines()[60])
    source = pool / "syllogisms" / "sources" / "syllogism.jsonl"  # not labelled as planted
    with open(source, "a", encoding="utf-8") as f:
        f.write(json.dumps({"question": item["question"] + "\n" + "\n".join(item["choices"]),
                            "answer": item["answer"]}) + "\n")
    leaky = runner.invoke(app, ["pool", "check", str(pool)])
    assert leaky.exit_code == 1, leaky.output
    assert "syllogisms/sources/syllogism.jsonl row 400" in leaky.output
    assert "physics-mcq benchmark item 60" in leaky.output
    empty = runner.invoke(app, ["pool", "check", str(tmp_path / "nothing")])
    assert empty.exit_code == 2 and "no prepared training and held-out tasks" in empty.output
