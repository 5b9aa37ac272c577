"""The engine end to end through the Python API: outputs, manifest accounting, provenance, caching, resume."""
from __future__ import annotations

import json

import pytest

from datachef.engine import run_recipe
from datachef.engine.cache import StepCache
from datachef.errors import EmptyResultError, ExecutionError
from datachef.spec import Record

from ..conftest import chat_after, load, math_rows, write_jsonl


def _read(path):
    return [json.loads(line) for line in open(path)]


def test_run_writes_chat_records_with_provenance_and_manifest(make_task, write_recipe, tmp_path):
    rows = math_rows(30) + [{"problem": "short", "solution": "no final answer here"}]
    task_p = make_task({"math": rows})
    recipe_p = write_recipe([
        {"id": "src", "op": "load", "args": {"source": "math"}},
        {"id": "has_answer", "op": "filter", "input": "src", "args": {"expr": "'####' in solution"}},
        {"id": "ans", "op": "extract_answer", "input": "has_answer",
         "args": {"field": "solution", "rationale_into": "steps"}},
        {"id": "chat", "op": "to_chat", "input": "ans",
         "args": {"user": "{problem}", "assistant": "{steps}\n#### {final_answer}", "system": "Be precise."}},
    ])
    task, recipe = load(task_p, recipe_p)
    m = run_recipe(recipe, task, tmp_path / "out", cache_dir=tmp_path / "cache", progress=False)

    data = _read(tmp_path / "out" / "data.jsonl")
    assert len(data) == 30 == m.output.records
    for rec in data:
        Record.model_validate(rec)
        assert [t["role"] for t in rec["messages"]] == ["system", "user", "assistant"]
        assert rec["meta"]["source"] == "math"
        assert rec["meta"]["ops"] == ["src", "has_answer", "ans", "chat"]
    assert data[5]["meta"]["row"] == 5 and "5 plus 6" in data[5]["messages"][1]["content"]
    assert data[5]["messages"][2]["content"].endswith("#### 11")

    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    steps = {s["id"]: s for s in manifest["steps"]}
    assert steps["src"]["rows_out"] == 31
    assert steps["has_answer"]["dropped"] == {"expr": 1}
    for s in manifest["steps"]:  # every row is accounted for
        assert s["rows_in"] == s["rows_out"] + sum(s["dropped"].values()), s
    for a, b in zip(manifest["steps"], manifest["steps"][1:]):
        assert a["rows_out"] == b["rows_in"]
    assert manifest["output"]["records"] == 30 and manifest["recipe_hash"] == recipe.content_hash()
    assert manifest["sources"][0]["id"] == "math" and manifest["sources"][0]["fingerprint"]
    dropped = _read(tmp_path / "out" / "dropped" / "has_answer.jsonl")
    assert dropped[0]["reason"] == "expr" and dropped[0]["row"]["problem"] == "short"
    assert (tmp_path / "out" / "recipe.yaml").exists()


def test_rerun_is_served_from_cache_and_identical(make_task, write_recipe, tmp_path):
    task, recipe = load(make_task({"math": math_rows(20)}), write_recipe([
        {"id": "src", "op": "load", "args": {"source": "math"}},
        {"id": "dd", "op": "dedup_exact", "input": "src", "args": {}},
        chat_after("dd")]))
    m1 = run_recipe(recipe, task, tmp_path / "o1", cache_dir=tmp_path / "cache", progress=False)
    m2 = run_recipe(recipe, task, tmp_path / "o2", cache_dir=tmp_path / "cache", progress=False)
    assert not any(s.cached for s in m1.steps) and all(s.cached for s in m2.steps)
    assert (tmp_path / "o1" / "data.jsonl").read_bytes() == (tmp_path / "o2" / "data.jsonl").read_bytes()
    assert m1.output.sha256 == m2.output.sha256


def test_changed_source_invalidates_cache(make_task, write_recipe, tmp_path):
    task_p = make_task({"math": math_rows(5)})
    task, recipe = load(task_p, write_recipe([{"id": "src", "op": "load", "args": {"source": "math"}},
                                               chat_after("src")]))
    run_recipe(recipe, task, tmp_path / "o", cache_dir=tmp_path / "cache", progress=False)
    write_jsonl(tmp_path / "sources" / "math.jsonl", math_rows(7))
    task, recipe = load(task_p, tmp_path / "recipe.yaml")
    m = run_recipe(recipe, task, tmp_path / "o", cache_dir=tmp_path / "cache", progress=False)
    assert m.output.records == 7 and not m.steps[0].cached


def test_failed_run_resumes_from_completed_stages(make_task, write_recipe, tmp_path, monkeypatch):
    task, recipe = load(make_task({"math": math_rows(10)}), write_recipe([
        {"id": "src", "op": "load", "args": {"source": "math"}},
        {"id": "dd", "op": "dedup_exact", "input": "src", "args": {}},
        {"id": "s", "op": "sample", "input": "dd", "args": {"n": 5, "seed": 1}},
        chat_after("s")]))
    from datachef.ops.sampling import Sample

    def boom(self, inputs, out):
        raise RuntimeError("killed")

    monkeypatch.setattr(Sample, "run", boom)
    with pytest.raises(ExecutionError, match="step 's'.*killed"):
        run_recipe(recipe, task, tmp_path / "out", cache_dir=tmp_path / "cache", progress=False)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
    assert not list((tmp_path / "cache" / "steps").glob(".tmp-*"))  # no half-written stage left behind
    monkeypatch.undo()
    m = run_recipe(recipe, task, tmp_path / "out", cache_dir=tmp_path / "cache", progress=False)
    cached = {s.id: s.cached for s in m.steps}
    assert cached == {"src": True, "dd": True, "s": False, "chat": False}
    assert m.output.records == 5


def test_empty_result_is_an_error_and_writes_nothing(make_task, write_recipe, tmp_path):
    task, recipe = load(make_task({"math": math_rows(5)}), write_recipe([
        {"id": "src", "op": "load", "args": {"source": "math"}},
        {"id": "none", "op": "filter", "input": "src", "args": {"expr": "len(problem) > 10000"}},
        chat_after("none")]))
    with pytest.raises(EmptyResultError, match="no records") as e:
        run_recipe(recipe, task, tmp_path / "out", cache_dir=tmp_path / "cache", progress=False)
    assert "none: 5 in, 0 out (dropped: expr=5)" in str(e.value)
    assert not (tmp_path / "out").exists()


def test_malformed_jsonl_fails_with_line_number_or_is_skipped_and_counted(make_task, write_recipe, tmp_path):
    rows = math_rows(3) + ['{"problem": "broken", "solution": '] + math_rows(2, start=10)
    task_p = make_task({"math": rows})
    task, recipe = load(task_p, write_recipe([{"id": "src", "op": "load", "args": {"source": "math"}},
                                               chat_after("src")]))
    with pytest.raises(Exception, match=r"math\.jsonl:4"):
        run_recipe(recipe, task, tmp_path / "out", cache_dir=tmp_path / "cache", progress=False)
    assert not (tmp_path / "out").exists()
    task, recipe = load(task_p, write_recipe([
        {"id": "src", "op": "load", "args": {"source": "math", "on_malformed": "skip"}}, chat_after("src")]))
    m = run_recipe(recipe, task, tmp_path / "out", cache_dir=tmp_path / "cache", progress=False)
    assert m.output.records == 5
    assert m.steps[0].dropped == {"malformed_line": 1} and m.steps[0].rows_in == 6


def test_mix_sample_concat_shuffle(make_task, write_recipe, tmp_path):
    task, recipe = load(make_task({"a": math_rows(50), "b": math_rows(10, start=100)}), write_recipe([
        {"id": "a", "op": "load", "args": {"source": "a"}},
        {"id": "b", "op": "load", "args": {"source": "b"}},
        {"id": "m", "op": "mix", "inputs": ["a", "b"], "args": {"weights": [0.5, 0.5], "total": 30, "seed": 3}},
        {"id": "sh", "op": "shuffle", "input": "m", "args": {"seed": 1, "max_rows_in_memory": 7}},
        {"id": "both", "op": "concat", "inputs": ["sh", "b"]},
        chat_after("both")]))
    m = run_recipe(recipe, task, tmp_path / "out", cache_dir=tmp_path / "cache", progress=False)
    steps = {s.id: s for s in m.steps}
    # b has only 10 rows: the mixture takes all of them and says so.
    assert steps["m"].rows_out == 25 and any("has 10 rows" in w for w in steps["m"].warnings)
    assert steps["m"].rows_in == 60 and steps["m"].dropped == {"not_sampled": 35}
    assert steps["sh"].rows_out == 25 and steps["both"].rows_out == 35
    data = _read(tmp_path / "out" / "data.jsonl")
    sources = [r["meta"]["source"] for r in data[:25]]
    assert sources.count("a") == 15 and sources.count("b") == 10
    assert sources != sorted(sources)  # shuffled across the bucket files
    assert len({json.dumps(r["messages"]) for r in data[:25]}) == 25  # nothing duplicated or lost by shuffling


@pytest.mark.parametrize("fmt", ["messages", "sharegpt", "alpaca", "dialogs", "parquet"])
def test_exporters(fmt, make_task, write_recipe, tmp_path):
    task, recipe = load(make_task({"math": math_rows(4)}), write_recipe([
        {"id": "src", "op": "load", "args": {"source": "math"}},
        {"id": "chat", "op": "to_chat", "input": "src",
         "args": {"user": "{problem}", "assistant": "{solution}", "system": "sys"}}]))
    m = run_recipe(recipe, task, tmp_path / "out", fmt=fmt, cache_dir=tmp_path / "cache", progress=False)
    assert m.output.records == 4
    if fmt == "parquet":
        import pyarrow.parquet as pq

        t = pq.read_table(tmp_path / "out" / "data.parquet").to_pylist()
        assert t[0]["messages"][1] == {"role": "user", "content": math_rows(1)[0]["problem"]}
        assert json.loads(t[0]["meta"])["source"] == "math"
        return
    first = _read(tmp_path / "out" / "data.jsonl")[0]
    if fmt == "sharegpt":
        assert [c["from"] for c in first["conversations"]] == ["system", "human", "gpt"]
    elif fmt == "alpaca":
        assert first["instruction"] == math_rows(1)[0]["problem"] and first["system"] == "sys"
        assert first["output"].endswith("#### 1") and first["history"] == []
    elif fmt == "dialogs":
        assert first["dialogs"][2]["role"] == "assistant"
    else:
        assert first["messages"][0] == {"role": "system", "content": "sys"}
    assert first["meta"]["source"] == "math"


def test_crashing_op_leaves_no_partial_cache_entry(make_task, write_recipe, tmp_path, monkeypatch):
    task, recipe = load(make_task({"math": math_rows(3)}), write_recipe([
        {"id": "src", "op": "load", "args": {"source": "math"}}, chat_after("src")]))
    from datachef.ops.chat import ToChat

    monkeypatch.setattr(ToChat, "map", lambda self, row: 1 / 0)
    with pytest.raises(ExecutionError, match="ZeroDivisionError"):
        run_recipe(recipe, task, tmp_path / "out", cache_dir=tmp_path / "cache", progress=False)
    assert list((tmp_path / "cache" / "steps").iterdir()) == []
    assert StepCache(tmp_path / "cache").has("nothing") is False


def test_cache_is_shared_across_recipes_with_other_step_ids_and_stages(make_task, write_recipe, tmp_path):
    task_p = make_task({"math": math_rows(12)})
    task, r1 = load(task_p, write_recipe([
        {"id": "a", "op": "load", "args": {"source": "math"}},
        {"id": "b", "op": "filter", "input": "a", "args": {"expr": "len(problem) > 5"}},
        chat_after("b")], name="r1.yaml"))
    _, r2 = load(task_p, write_recipe([
        {"id": "x", "op": "load", "args": {"source": "math"}},
        {"id": "y", "op": "filter", "input": "x", "args": {"expr": "len(problem) > 5"}},
        {"id": "chat", "op": "to_chat", "input": "y", "args": {"user": "{problem}", "assistant": "{solution}"}},
        {"id": "also", "op": "sample", "input": "y", "args": {"n": 2}},  # y now has two consumers: other stages
        {"id": "chat2", "op": "to_chat", "input": "also", "args": {"user": "{problem}", "assistant": "{solution}"}},
        {"id": "out", "op": "concat", "inputs": ["chat", "chat2"]}], name="r2.yaml"))
    run_recipe(r1, task, tmp_path / "o1", cache_dir=tmp_path / "c", progress=False)
    m = run_recipe(r2, task, tmp_path / "o2", cache_dir=tmp_path / "c", progress=False)
    steps = {s.id: s for s in m.steps}
    assert steps["chat"].cached and steps["chat"].rows_out == 12 and steps["chat"].inputs == ["y"]
    assert not steps["y"].cached  # r1 never materialised y (it was fused into the chat stage)
    assert m.output.records == 14
