"""datachef.kit in-process: the engine's own ops over lists, provenance as the engine keeps it, the ledger, errors."""
from __future__ import annotations

import inspect
import json
import re

import pytest

from datachef import kit
from datachef.engine import run_recipe
from datachef.errors import DatachefError, ExecutionError
from datachef.io import load_task
from datachef.llm.base import Completion, LLMClient
from datachef.ops import get_op
from datachef.spec import Record

from .conftest import BENCH, load, math_rows

SHORT = {"problem": "short", "solution": "no final answer here"}


class Adder(LLMClient):
    """Answers 'What is A plus B?' with a worked solution (our LLMClient interface, no network)."""

    backend = "test"

    def __init__(self):
        super().__init__("adder-1")

    def _chat_batch(self, batch, params, json_schema):
        out = []
        for msgs in batch:
            a, b = map(int, re.search(r"(\d+) plus (\d+)", msgs[-1]["content"]).groups())
            out.append(Completion(f"{a} + {b} = {a + b}\n#### {a + b}"))
        return out


@pytest.fixture
def task(make_task, tmp_path):
    t = load_task(make_task({"math": math_rows(20) + [SHORT], "more": math_rows(6, start=100)}))
    kit.configure(t, out_dir=tmp_path / "out", workdir=tmp_path / "work")
    yield t
    kit._SESSION = None


def _read(path):
    return [json.loads(line) for line in open(path)]


def test_pipeline_writes_the_same_records_as_the_typed_engine(task, make_task, write_recipe, tmp_path):
    rows = kit.load("math")
    rows = kit.filter(rows, "'####' in solution")
    rows = kit.extract_answer(rows, field="solution", rationale_into="steps")
    chat = kit.to_chat(rows, user="{problem}", assistant="{steps}\n#### {final_answer}", system="Be precise.")
    assert kit.dump(chat) == 20

    records = _read(tmp_path / "out" / kit.RECORDS_FILE)
    for rec in records:
        Record.model_validate(rec)
        assert rec["meta"]["ops"] == ["load", "filter", "extract_answer", "to_chat"]
    assert records[5]["meta"] == {"source": "math", "row": 5, "ops": ["load", "filter", "extract_answer", "to_chat"]}

    # The same program as typed steps (same step ids) gives byte-identical data: one code path.
    t, recipe = load(tmp_path / "task.yaml", write_recipe([
        {"id": "load", "op": "load", "args": {"source": "math"}},
        {"id": "filter", "op": "filter", "input": "load", "args": {"expr": "'####' in solution"}},
        {"id": "extract_answer", "op": "extract_answer", "input": "filter",
         "args": {"field": "solution", "rationale_into": "steps"}},
        {"id": "to_chat", "op": "to_chat", "input": "extract_answer",
         "args": {"user": "{problem}", "assistant": "{steps}\n#### {final_answer}", "system": "Be precise."}},
    ]))
    run_recipe(recipe, t, tmp_path / "typed", cache_dir=tmp_path / "cache", progress=False)
    assert _read(tmp_path / "typed" / "data.jsonl") == records

    stats = json.loads((tmp_path / "out" / kit.STATS_FILE).read_text())
    steps = {s["id"]: s for s in stats["steps"]}
    assert stats["records"] == 20 and steps["load"]["rows_out"] == 21
    assert steps["filter"]["dropped"] == {"expr": 1} and steps["filter"]["inputs"] == ["load"]
    dropped = _read(tmp_path / "out" / kit.DROPPED_FILE)
    assert dropped == [{"step": "filter", "reason": "expr", "row": dropped[0]["row"]}]
    assert dropped[0]["row"]["problem"] == "short"


def test_inputs_are_never_mutated_and_branches_keep_their_own_provenance(task):
    rows = kit.load("math", limit=5)
    a = kit.filter(rows, "len(problem) > 10")
    b = kit.map(rows, set={"n": "word_count(problem)"})
    c = kit.filter(a, "True")
    assert [r["_meta"]["ops"] for r in rows] == [["load"]] * 5
    assert a[0]["_meta"]["ops"] == ["load", "filter"] and "n" not in a[0]
    assert b[0]["_meta"]["ops"] == ["load", "map"] and b[0]["n"] > 5
    assert c[0]["_meta"]["ops"] == ["load", "filter", "filter.2"]  # a second call gets its own step id
    assert [s["id"] for s in kit.ledger()] == ["load", "filter", "map", "filter.2"]
    assert kit.load("more")[0]["_meta"]["ops"] == ["load.2"]


def test_global_ops_sample_mix_concat_shuffle_dedup(task):
    math, more = kit.load("math"), kit.load("more")
    assert len(kit.sample(math, n=5, seed=1)) == 5 and len(kit.sample(math, fraction=0.5)) == 10
    mixed = kit.mix([math, more], weights=[1, 1], total=8, seed=0)
    assert [r["_meta"]["source"] for r in mixed] == ["math"] * 4 + ["more"] * 4
    both = kit.concat(math, more)
    again = kit.concat([math, more])
    assert len(both) == 27 and [r["_meta"]["row"] for r in again] == [r["_meta"]["row"] for r in both]
    assert again[0]["_meta"]["ops"] == ["load", "concat.2"]
    shuffled = kit.shuffle(both, seed=3)
    assert sorted(r["_meta"]["row"] for r in shuffled) == sorted(r["_meta"]["row"] for r in both)
    assert shuffled != both
    doubled = kit.concat(math, math)
    assert len(kit.dedup(doubled)) == 21
    near = kit.dedup(doubled, near=True, threshold=0.9)
    assert len(near) == 21
    assert kit.ledger()[-1]["op"] == "dedup_near" and kit.ledger()[-1]["dropped"] == {"near_duplicate": 21}
    assert len(kit.apply("dedup_exact", doubled)) == 21


def test_decontaminate_and_llm_steps_in_process(make_task, tmp_path):
    leak = {"problem": BENCH[1]["question"], "solution": BENCH[1]["answer"]}
    t = load_task(make_task({"math": math_rows(4) + [leak]}))
    kit.configure(t, out_dir=tmp_path / "o", llm=Adder())
    try:
        clean = kit.decontaminate(kit.load("math"))
        assert len(clean) == 4 and kit.ledger()[-1]["dropped"] == {"benchmark_overlap": 1}
        solved = kit.generate_with_llm(clean, prompt="{problem}", into="gen", parse="final_answer",
                                       answer_into="ans")
        assert solved[2]["ans"] == "5" and solved[2]["_meta"]["ops"] == ["load", "decontaminate",
                                                                          "generate_with_llm"]
        new = kit.generate_rows(clean[:2], prompt="{problem}", into="q", n=2)
        assert len(new) == 4 and [r["_meta"]["sample"] for r in new] == [0, 1, 0, 1]
        kit.configure(t, out_dir=tmp_path / "o")  # no LLM configured
        with pytest.raises(ExecutionError, match="needs an LLM client"):
            kit.generate_with_llm(clean, prompt="{problem}", into="gen")
    finally:
        kit._SESSION = None


def test_errors_name_the_step_the_field_and_the_fix(task):
    rows = kit.load("math", limit=3)
    with pytest.raises(ExecutionError, match=r"step 'filter' \(op 'filter'\): field 'missing': reads a field its "
                                             r"input does not have \(available: problem, solution\)"):
        kit.filter(rows, "len(missing) > 3")
    with pytest.raises(ExecutionError, match="give exactly one of 'n' or 'fraction'"):
        kit.sample(rows, n=1, fraction=0.5)
    with pytest.raises(ExecutionError, match=r"unknown source 'nope' \(task sources: math, more\)"):
        kit.load("nope")
    with pytest.raises(ExecutionError, match="has no provenance"):
        kit.filter([{"problem": "made up", "solution": "x"}], "True")
    with pytest.raises(ExecutionError, match="not a chat record"):
        kit.dump(rows)
    chat = kit.to_chat(rows, user="{problem}", assistant="{solution}")
    kit.dump(chat)
    with pytest.raises(ExecutionError, match="already called"):
        kit.dump(chat)


def test_unconfigured_kit_says_how_to_configure_it(monkeypatch):
    monkeypatch.delenv(kit.ENV_TASK, raising=False)
    kit._SESSION = None
    with pytest.raises(DatachefError, match=r"kit.configure\(task"):
        kit.load("math")


# Functions that expose an op's parameters one to one (name -> op): their defaults must be the op's defaults.
MIRRORS = {"load": "load", "extract_answer": "extract_answer", "decontaminate": "decontaminate",
           "language_filter": "language_filter", "generate_with_llm": "llm_map", "generate_rows": "llm_generate",
           "to_chat": "to_chat", "sample": "sample", "quality_filter": "quality_filter", "shuffle": "shuffle",
           "template": "template", "rename": "rename", "select": "select", "map": "map"}


@pytest.mark.parametrize("fn,op", sorted(MIRRORS.items()))
def test_signatures_mirror_the_op_params(fn, op):
    sig = inspect.signature(getattr(kit, fn))
    fields = get_op(op).Params.model_fields
    params = {n: p for n, p in sig.parameters.items() if n != "rows"}
    extra = set(fields) - set(params) - {"max_rows_in_memory", "on_malformed"} if op == "shuffle" else \
        set(fields) - set(params)
    assert not extra, f"kit.{fn} misses op params {extra}"
    for name, p in params.items():
        assert name in fields, f"kit.{fn}({name}) is not a param of op {op}"
        if p.default is not inspect.Parameter.empty and not fields[name].is_required():
            assert p.default == fields[name].default, (fn, name)
    assert (inspect.getdoc(getattr(kit, fn)) or "").strip()


def test_every_public_function_is_documented():
    assert set(kit.__all__) >= {"load", "filter", "map", "dedup", "to_chat", "sample", "mix", "generate_with_llm",
                                "dump"}
    for name in kit.__all__:
        assert inspect.getdoc(getattr(kit, name)), name
