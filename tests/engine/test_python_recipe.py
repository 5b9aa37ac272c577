"""Python-program recipes end to end: a kit script in the sandbox, its data checked and written like the typed engine's,
hostile or broken scripts stopped with clear errors and nothing written."""
from __future__ import annotations

import json
import re
import textwrap

import pytest

from datachef.engine import run_recipe
from datachef.engine.python_recipe import run_python_recipe
from datachef.engine.sandbox import SandboxLimits
from datachef.errors import EmptyResultError, ExecutionError
from datachef.io import load_task
from datachef.llm.base import Completion, LLMClient
from datachef.spec import Recipe, Record

from ..conftest import BENCH, load, math_rows, write_jsonl

LIMITS = SandboxLimits(wall_seconds=60, cpu_seconds=60, memory_mb=2048)
GOOD = """\
from datachef import kit
rows = kit.load("math")
rows = kit.filter(rows, "'####' in solution")
rows = kit.extract_answer(rows, field="solution", rationale_into="steps")
chat = kit.to_chat(rows, user="{problem}", assistant="{steps}\\n#### {final_answer}")
print("rows:", len(chat))
kit.dump(chat)
"""


def script(body: str) -> Recipe:
    return Recipe(name="py", python=textwrap.dedent(body))


def _read(path):
    return [json.loads(line) for line in open(path)]


@pytest.fixture
def task(make_task):
    rows = math_rows(12) + [{"problem": "short", "solution": "no final answer here"}]
    return load_task(make_task({"math": rows}))


def run(recipe, task, tmp_path, out="out", **kw):
    kw.setdefault("limits", LIMITS)
    return run_python_recipe(recipe, task, tmp_path / out, cache_dir=tmp_path / "cache", **kw)


def test_good_script_writes_records_with_provenance_like_the_typed_engine(task, tmp_path, write_recipe):
    m = run(script(GOOD), task, tmp_path)
    out = tmp_path / "out"
    data = _read(out / "data.jsonl")
    assert len(data) == 12 == m.output.records
    for rec in data:
        Record.model_validate(rec)
        assert rec["meta"]["source"] == "math" and rec["meta"]["ops"] == ["load", "filter", "extract_answer",
                                                                           "to_chat"]
    assert data[3]["meta"]["row"] == 3 and data[3]["messages"][1]["content"].endswith("#### 7")

    manifest = json.loads((out / "manifest.json").read_text())
    steps = {s["id"]: s for s in manifest["steps"]}
    assert steps["load"]["rows_out"] == 13 and steps["filter"]["dropped"] == {"expr": 1}
    assert manifest["sources"][0]["id"] == "math" and manifest["recipe_hash"] == script(GOOD).content_hash()
    assert _read(out / "dropped" / "filter.jsonl")[0]["row"]["problem"] == "short"
    sandbox = json.loads((out / "sandbox.json").read_text())
    assert sandbox["status"] == "ok" and "audit-hook" in sandbox["layers"] and "rows: 12" in sandbox["stdout"]
    assert (out / "recipe.yaml").exists()
    assert not list((tmp_path / "cache" / "sandbox").iterdir())  # the run folder is gone

    # The typed engine on the same program writes the same data.
    t, typed = load(tmp_path / "task.yaml", write_recipe([
        {"id": "load", "op": "load", "args": {"source": "math"}},
        {"id": "filter", "op": "filter", "input": "load", "args": {"expr": "'####' in solution"}},
        {"id": "extract_answer", "op": "extract_answer", "input": "filter",
         "args": {"field": "solution", "rationale_into": "steps"}},
        {"id": "to_chat", "op": "to_chat", "input": "extract_answer",
         "args": {"user": "{problem}", "assistant": "{steps}\n#### {final_answer}"}}]))
    run_recipe(typed, t, tmp_path / "typed", cache_dir=tmp_path / "cache", progress=False)
    assert _read(tmp_path / "typed" / "data.jsonl") == data


def test_rerun_is_served_from_cache_until_a_source_changes(task, tmp_path, make_task):
    m1 = run(script(GOOD), task, tmp_path, "o1")
    m2 = run(script(GOOD), task, tmp_path, "o2")
    assert not any(s.cached for s in m1.steps) and all(s.cached for s in m2.steps)
    assert m1.output.sha256 == m2.output.sha256
    write_jsonl(tmp_path / "sources" / "math.jsonl", math_rows(5))
    m3 = run(script(GOOD), load_task(tmp_path / "task.yaml"), tmp_path, "o3")
    assert m3.output.records == 5 and not any(s.cached for s in m3.steps)


def test_script_error_names_the_line_and_writes_nothing(task, tmp_path):
    bad = script("""\
        from datachef import kit
        rows = kit.load("math")
        rows = kit.filter(rows, "len(question) > 10")
        kit.dump(kit.to_chat(rows, user="{problem}", assistant="{solution}"))
    """)
    with pytest.raises(ExecutionError) as ei:
        run(bad, task, tmp_path)
    msg = str(ei.value)
    assert msg.startswith("recipe.py:3: the script failed `rows = kit.filter(rows, \"len(question) > 10\")`")
    assert "field 'question': reads a field its input does not have (available: problem, solution)" in msg
    assert "line 3, in <module>" in msg  # the script's frames of the traceback
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())

    with pytest.raises(ExecutionError, match=r"recipe.py:2: the script does not parse"):
        run(script("x = 1\ny = (\n"), task, tmp_path)
    with pytest.raises(ExecutionError, match=r"without calling kit.dump"):
        run(script("from datachef import kit\nrows = kit.load('math')\n"), task, tmp_path)
    with pytest.raises(EmptyResultError, match=r"dumped no records; per step:\n  load: 13 in, 13 out"):
        run(script("from datachef import kit\nrows = kit.load('math')\n"
                   "kit.dump(kit.to_chat(kit.filter(rows, 'False'), user='{problem}', assistant='{solution}'))\n"),
            task, tmp_path)
    assert not (tmp_path / "out" / "manifest.json").exists()


def test_script_cannot_read_the_benchmark_or_source_files(task, tmp_path):
    bench = tmp_path / "bench.jsonl"
    leak = script(f"""\
        from datachef import kit
        held_out = open({str(bench)!r}).read()
    """)
    with pytest.raises(ExecutionError, match=r"does not allow: reading .*bench.jsonl") as ei:
        run(leak, task, tmp_path)
    assert ei.value.sandbox.violations and BENCH[2]["question"] not in ei.value.sandbox.stdout

    direct = script(f"""\
        import json
        rows = [json.loads(line) for line in open({str(tmp_path / "sources" / "math.jsonl")!r})]
    """)
    with pytest.raises(ExecutionError, match="does not allow: reading"):
        run(direct, task, tmp_path)


def test_hostile_scripts_fail_with_the_violation(task, tmp_path):
    cases = {
        "import os\nos.system('id')\n": "os.system",
        "import socket\nsocket.create_connection(('127.0.0.1', 9))\n": "network access is not allowed",
        f"open({str(tmp_path / 'x.txt')!r}, 'w').write('x')\n": "outside the run folder",
    }
    for code, expected in cases.items():
        with pytest.raises(ExecutionError, match=re.escape(expected)):
            run(script(code), task, tmp_path)
    assert not (tmp_path / "x.txt").exists()
    with pytest.raises(ExecutionError, match=r"stopped: timed out"):
        run(script("while True:\n    pass\n"), task, tmp_path, limits=SandboxLimits(wall_seconds=2))


def test_made_up_rows_are_rejected(task, tmp_path):
    forged = script("""\
        from datachef import kit
        real = kit.load("math", limit=1)
        fake = [{"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}],
                 "_meta": {"source": "math", "row": 9999, "ops": ["load"]}}]
        kit.dump(kit.to_chat(real, user="{problem}", assistant="{solution}") + fake)
    """)
    with pytest.raises(ExecutionError, match=r"claims provenance \(source 'math', row 9999\) that the script never "
                                             r"loaded"):
        run(forged, task, tmp_path)


class Adder(LLMClient):
    backend = "test"

    def __init__(self):
        super().__init__("adder-1")

    def _chat_batch(self, batch, params, json_schema):
        out = []
        for msgs in batch:
            a, b = map(int, re.search(r"(\d+) plus (\d+)", msgs[-1]["content"]).groups())
            out.append(Completion(f"Add them: {a} + {b} = {a + b}\n#### {a + b}"))
        return out


def test_llm_and_decontamination_run_in_the_parent_through_the_broker(make_task, tmp_path):
    leak = {"problem": BENCH[2]["question"] + " What is 1 plus 2?", "solution": BENCH[2]["answer"]}  # held out
    task = load_task(make_task({"math": math_rows(5) + [leak]}))
    body = script("""\
        from datachef import kit
        rows = kit.decontaminate(kit.load("math"))
        rows = kit.generate_with_llm(rows, prompt="{problem}", into="cot", parse="final_answer", answer_into="ans")
        kit.dump(kit.to_chat(rows, user="{problem}", assistant="{cot}"))
    """)
    m = run(body, task, tmp_path, llm=Adder())
    data = _read(tmp_path / "out" / "data.jsonl")
    assert len(data) == 5 and data[2]["messages"][1]["content"].endswith("#### 5")
    assert data[2]["meta"]["ops"] == ["load", "decontaminate", "generate_with_llm", "to_chat"]
    assert {s.id: s.dropped for s in m.steps}["decontaminate"] == {"benchmark_overlap": 1}
    with pytest.raises(ExecutionError, match="needs an LLM client"):
        run(body, task, tmp_path, "o2")


def test_broker_row_budget(task, tmp_path):
    with pytest.raises(ExecutionError, match="moved more than 5 rows"):
        run(script(GOOD), task, tmp_path, max_broker_rows=5, use_cache=False)


def test_manifest_lists_only_the_sources_the_script_loaded(make_task, tmp_path):
    task = load_task(make_task({"math": math_rows(3), "unused": math_rows(2)}))
    m = run(script(GOOD), task, tmp_path)
    assert [s.id for s in m.sources] == ["math"]
