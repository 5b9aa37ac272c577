"""The Ray Data executor gives the local executor's answer: the same corpus byte for byte (order included), the same
dropped rows, per-step counts and warnings, the same cache entries, and errors naming the same step."""
from __future__ import annotations

import gzip
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from datachef.engine import run_recipe
from datachef.errors import DatachefError, ExecutionError
from datachef.io import load_recipe, load_task
from datachef.ops import FilterOp, OpParams
from datachef.ops.registry import REGISTRY

from ..conftest import math_rows, write_jsonl

STEP_FIELDS = ("id", "op", "rows_in", "rows_out", "dropped", "warnings", "cache_key")


def run_both(task_file: Path, recipe_file: Path, tmp: Path) -> tuple[Path, Path]:
    """Run a recipe with each executor (fresh caches); return the two output folders."""
    task, recipe = load_task(task_file), load_recipe(recipe_file)
    outs = []
    for executor in ("local", "ray"):
        out = tmp / f"out-{executor}"
        run_recipe(recipe, task, out, cache_dir=tmp / f"cache-{executor}", executor=executor, progress=False)
        outs.append(out)
    return outs[0], outs[1]


def assert_same_run(local: Path, ray: Path) -> None:
    assert (ray / "data.jsonl").read_bytes() == (local / "data.jsonl").read_bytes()
    ml, mr = (json.loads((d / "manifest.json").read_text()) for d in (local, ray))
    assert [{k: s[k] for k in STEP_FIELDS} for s in mr["steps"]] == \
        [{k: s[k] for k in STEP_FIELDS} for s in ml["steps"]]
    assert mr["output"]["records"] == ml["output"]["records"]
    dropped = sorted(p.name for p in (local / "dropped").iterdir())
    assert sorted(p.name for p in (ray / "dropped").iterdir()) == dropped
    for name in dropped:
        assert (ray / "dropped" / name).read_bytes() == (local / "dropped" / name).read_bytes(), name


# -- the built-in kitchens and pool tasks: each expert recipe ----------------------------------------------------
@pytest.mark.parametrize("kitchen", ["gsm8k", "arithmetic"])
def test_kitchen_expert_recipes_equal(ray_cluster, tmp_path, kitchen):
    from datachef.kitchens import prepare_kitchen

    task_file = prepare_kitchen(kitchen, tmp_path / "kitchen")
    assert_same_run(*run_both(task_file, task_file.parent / "expert_recipe.yaml", tmp_path))


# One task per family of the pool (fast to prepare); every task: the slow test below.
SOME_POOL_TASKS = ["physics-mcq", "chid-idiom", "humaneval", "mmlu-chemistry", "base-conversion", "finance-calc"]


@pytest.mark.parametrize("name", SOME_POOL_TASKS)
def test_pool_expert_recipes_equal(ray_cluster, tmp_path, name):
    from datachef.pool import prepare_task

    task_file = prepare_task(name, tmp_path / name)
    assert_same_run(*run_both(task_file, task_file.parent / "expert_recipe.yaml", tmp_path))


@pytest.mark.slow
def test_every_pool_expert_recipe_equal(ray_cluster, tmp_path):
    from datachef.pool import all_tasks, prepare_task

    for t in all_tasks():
        task_file = prepare_task(t.name, tmp_path / t.name / "task")
        assert_same_run(*run_both(task_file, task_file.parent / "expert_recipe.yaml", tmp_path / t.name))


# -- every op and source form --------------------------------------------------------------------------------------
def _sources(tmp: Path) -> list[dict]:
    """A JSONL file with a BOM, blank lines and duplicates; a gzipped JSONL; a CSV (read on the driver); a saved
    Hugging Face dataset and a Parquet file (read by the workers)."""
    import datasets

    rows = math_rows(300)
    rows += rows[:40]  # exact copies
    rows += [{**r, "problem": r["problem"] + " Be brief."} for r in rows[40:80]]  # near copies
    rows += [{"problem": "buy now " * 30, "solution": "click here #### 1"}] * 5  # low quality
    rows += [{"problem": "Wie viel ist 3 plus 4? Erkläre die Schritte genau.", "solution": "3 + 4 = 7\n#### 7"}] * 3
    lines = [json.dumps(r, ensure_ascii=False) for r in rows]
    lines[3:3] = ["", "   ", "\x0c"]  # blank to bytes.strip(), so to the file source
    (tmp / "sources").mkdir(parents=True, exist_ok=True)
    (tmp / "sources" / "main.jsonl").write_bytes(b"\xef\xbb\xbf" + ("\n".join(lines) + "\n").encode())
    with gzip.open(tmp / "sources" / "more.jsonl.gz", "wt") as f:
        f.write("\n".join(json.dumps(r) for r in math_rows(120, start=1000)) + "\n")
    (tmp / "sources" / "table.csv").write_text("problem,solution\n" + "\n".join(
        f"\"What is {i} times 2? Show each step of the work.\",\"{i} * 2 = {2 * i}\n#### {2 * i}\""
        for i in range(60)) + "\n")
    datasets.Dataset.from_list(math_rows(250, start=5000)).save_to_disk(str(tmp / "sources" / "saved"))
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pylist(math_rows(90, start=7000)), tmp / "sources" / "cols.parquet",
                   row_group_size=25)  # four row groups, read by four workers
    return [{"id": "main", "uri": "sources/main.jsonl"}, {"id": "more", "uri": "sources/more.jsonl.gz"},
            {"id": "table", "uri": "sources/table.csv"}, {"id": "saved", "uri": "disk:sources/saved"},
            {"id": "cols", "uri": "sources/cols.parquet"}]


def _task(tmp: Path, sources: list[dict]) -> Path:
    write_jsonl(tmp / "bench.jsonl", [{"question": r["problem"], "answer": r["solution"].split("#### ")[1]}
                                      for r in math_rows(3, start=7)])  # problems 7-9 of main: held out
    task = {"name": "toy", "instruction": "Solve arithmetic word problems.",
            "benchmark": {"name": "toybench", "format": "numeric", "dev": 1,
                          "source": {"id": "bench", "uri": "bench.jsonl"}},
            "sources": sources, "budget": {"train_samples": 500, "reward_samples": 10}}
    (tmp / "task.yaml").write_text(yaml.safe_dump(task))
    return tmp / "task.yaml"


def _recipe(tmp: Path, steps: list[dict], output: str) -> Path:
    (tmp / "recipe.yaml").write_text(yaml.safe_dump({"name": "every-op", "plan": {"workflow": "t"},
                                                     "steps": steps, "output": output}))
    return tmp / "recipe.yaml"


EVERY_OP = [
    {"id": "main", "op": "load", "args": {"source": "main"}},
    {"id": "good", "op": "quality_filter", "input": "main", "args": {"fields": ["problem"]}},
    {"id": "english", "op": "language_filter", "input": "good", "args": {"fields": ["problem"], "languages": ["en"]}},
    {"id": "clean", "op": "decontaminate", "input": "english", "args": {"fields": ["problem", "solution"]}},
    {"id": "unique", "op": "dedup_exact", "input": "clean", "args": {}},
    {"id": "distinct", "op": "dedup_near", "input": "unique", "args": {"threshold": 0.5}},
    {"id": "answers", "op": "extract_answer", "input": "distinct",
     "args": {"field": "solution", "pattern": "####\\s*(.+?)\\s*$", "into": "final", "rationale_into": "why"}},
    {"id": "sized", "op": "map", "input": "answers", "args": {"set": {"n": "word_count(problem)"}}},
    {"id": "long", "op": "filter", "input": "sized", "args": {"length": [{"field": "problem", "min": 20}]}},
    {"id": "more", "op": "load", "args": {"source": "more", "limit": 100}},
    {"id": "more_named", "op": "rename", "input": "more", "args": {"mapping": {"problem": "problem"}}},
    {"id": "table", "op": "load", "args": {"source": "table"}},
    {"id": "saved", "op": "load", "args": {"source": "saved", "limit": 200, "shuffle_seed": 2}},
    {"id": "main_some", "op": "load", "args": {"source": "main", "limit": 50, "shuffle_seed": 4}},
    {"id": "saved_some", "op": "sample", "input": "saved", "args": {"fraction": 0.5, "seed": 3}},
    {"id": "cols", "op": "load", "args": {"source": "cols", "limit": 60, "shuffle_seed": 1}},
    {"id": "extra", "op": "concat", "inputs": ["more_named", "table", "saved_some", "cols", "main_some"]},
    {"id": "extra_cols", "op": "select", "input": "extra", "args": {"fields": ["problem", "solution"]}},
    {"id": "pool", "op": "mix", "inputs": ["long", "extra_cols"], "args": {"weights": [3, 1], "total": 400,
                                                                          "seed": 1}},
    {"id": "chat", "op": "to_chat", "input": "pool", "args": {"user": "{problem}", "assistant": "{solution}"}},
    {"id": "corpus", "op": "shuffle", "input": "chat", "args": {"seed": 2}},
]


def test_every_op_and_source_form_equal(ray_cluster, tmp_path):
    task_file = _task(tmp_path, _sources(tmp_path))
    recipe = _recipe(tmp_path, EVERY_OP, "corpus")
    local, ray = run_both(task_file, recipe, tmp_path)
    assert_same_run(local, ray)
    steps = {s["id"]: s for s in json.loads((ray / "manifest.json").read_text())["steps"]}
    # The planted rows were met: every drop kind happened, so equality above covers them.
    assert steps["good"]["dropped"] and steps["english"]["dropped"] and steps["clean"]["dropped"]
    assert steps["unique"]["dropped"]["duplicate"] > 30 and steps["distinct"]["dropped"]["near_duplicate"] > 30
    assert steps["main"]["rows_out"] == 388 and steps["more"]["rows_out"] == 100 and steps["cols"]["rows_out"] == 60
    assert steps["main_some"]["rows_out"] == 50 and steps["saved"]["rows_out"] == 200  # seeded subsets


def test_stage_shared_by_two_consumers_and_cache_reuse(ray_cluster, tmp_path):
    """A step read by two others starts new stages; a Ray run's cache entries serve a local run (same keys)."""
    task_file = _task(tmp_path, _sources(tmp_path))
    steps = [{"id": "main", "op": "load", "args": {"source": "main"}},
             {"id": "a", "op": "sample", "input": "main", "args": {"n": 50, "seed": 1}},
             {"id": "b", "op": "filter", "input": "main", "args": {"length": [{"field": "problem", "min": 60}]}},
             {"id": "both", "op": "concat", "inputs": ["a", "b"]},
             {"id": "chat", "op": "to_chat", "input": "both", "args": {"user": "{problem}",
                                                                        "assistant": "{solution}"}}]
    recipe_file = _recipe(tmp_path, steps, "chat")
    local, ray = run_both(task_file, recipe_file, tmp_path)
    assert_same_run(local, ray)
    task, recipe = load_task(task_file), load_recipe(recipe_file)
    again = run_recipe(recipe, task, tmp_path / "again", cache_dir=tmp_path / "cache-ray", progress=False)
    assert all(s.cached for s in again.steps)
    assert (tmp_path / "again" / "data.jsonl").read_bytes() == (ray / "data.jsonl").read_bytes()


# -- errors name the same place ------------------------------------------------------------------------------------
def _error(executor: str, task_file: Path, recipe_file: Path, tmp: Path) -> DatachefError:
    with pytest.raises(DatachefError) as info:
        run_recipe(load_recipe(recipe_file), load_task(task_file), tmp / f"err-{executor}",
                   cache_dir=tmp / f"cache-{executor}", executor=executor, progress=False)
    assert not (tmp / f"err-{executor}").exists()  # nothing half-written
    return info.value


def test_malformed_source_line_is_named(ray_cluster, tmp_path):
    (tmp_path / "sources").mkdir()
    lines = [json.dumps(r) for r in math_rows(30)]
    lines[17] = '{"problem": "cut off'
    (tmp_path / "sources" / "main.jsonl").write_text("\n".join(lines) + "\n")
    task_file = _task(tmp_path, [{"id": "main", "uri": "sources/main.jsonl"}])
    recipe = _recipe(tmp_path, [{"id": "main", "op": "load", "args": {"source": "main"}},
                                {"id": "chat", "op": "to_chat", "input": "main",
                                 "args": {"user": "{problem}", "assistant": "{solution}"}}], "chat")
    local, ray = (_error(ex, task_file, recipe, tmp_path) for ex in ("local", "ray"))
    assert str(ray) == str(local)
    assert "main.jsonl:18" in str(ray) and "step 'main'" in str(ray)


class _CrashParams(OpParams):
    at: int = 7


class _Crash(FilterOp):
    """Test op: raises on one row (a bug in an op, not a drop)."""

    name = "test_crash_on_row"
    Params = _CrashParams

    def reason(self, row):
        if row["_meta"]["row"] == self.params.at:
            raise ZeroDivisionError("row seven")
        return None


def test_op_crash_on_a_worker_names_the_step(ray_cluster, tmp_path, monkeypatch):
    import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers cannot import the tests package
    monkeypatch.setitem(REGISTRY, _Crash.name, _Crash)
    task_file = _task(tmp_path, _sources(tmp_path))
    recipe = _recipe(tmp_path, [{"id": "main", "op": "load", "args": {"source": "main"}},
                                {"id": "ok", "op": "quality_filter", "input": "main"},
                                {"id": "boom", "op": _Crash.name, "input": "ok"},
                                {"id": "chat", "op": "to_chat", "input": "boom",
                                 "args": {"user": "{problem}", "assistant": "{solution}"}}], "chat")
    try:
        local, ray = (_error(ex, task_file, recipe, tmp_path) for ex in ("local", "ray"))
    finally:
        cloudpickle.unregister_pickle_by_value(sys.modules[__name__])
    assert isinstance(ray, ExecutionError) and str(ray) == str(local)
    assert "step 'boom'" in str(ray) and "ZeroDivisionError: row seven" in str(ray)


def test_unknown_executor_is_an_error(tmp_path, make_task, write_recipe):
    from ..conftest import chat_after

    task_file = make_task({"s": math_rows(5)})
    recipe_file = write_recipe([{"id": "s", "op": "load", "args": {"source": "s"}}, chat_after("s")], output="chat")
    with pytest.raises(DatachefError, match="unknown executor 'spark'"):
        run_recipe(load_recipe(recipe_file), load_task(task_file), tmp_path / "o", executor="spark")


def test_missing_ray_names_the_extra(monkeypatch):
    from datachef.engine.ray_session import import_ray

    monkeypatch.setitem(sys.modules, "ray", None)  # as if not installed
    with pytest.raises(DatachefError, match=r"pip install 'datachef\[ray\]'"):
        import_ray()


def test_local_ray_leaves_no_processes_or_files(tmp_path):
    """A local Ray started for a run is bound to loopback and gone afterwards (run in a child process: this one
    holds the test session's cluster)."""
    script = textwrap.dedent("""
        import json, os, subprocess
        from datachef.engine.ray_session import ray_session
        with ray_session(num_cpus=1, object_store_mb=128) as ray:
            node = ray.util.get_node_ip_address()
            temp = ray._private.worker._global_node.get_temp_dir_path()
            pids = [p.pid for p in __import__("psutil").Process().children(recursive=True)]
        print(json.dumps({"node": node, "temp": temp, "pids": pids}))
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                         env={k: v for k, v in __import__("os").environ.items() if k != "RAY_ADDRESS"})
    assert out.returncode == 0, out.stderr
    info = json.loads(out.stdout.strip().splitlines()[-1])
    assert info["node"] == "127.0.0.1"
    assert info["pids"], "a local Ray starts processes"
    import psutil

    alive = [p for p in info["pids"] if psutil.pid_exists(p) and psutil.Process(p).status() != "zombie"]
    assert alive == []
    assert not Path(info["temp"]).exists()
