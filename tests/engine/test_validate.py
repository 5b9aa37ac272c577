"""Bad recipes are rejected before anything runs, with errors that name the step, op and field."""
from __future__ import annotations

import pytest

from datachef.engine import run_recipe
from datachef.errors import RecipeValidationError, SpecError
from datachef.io import load_recipe

from ..conftest import chat_after, load, math_rows

LOAD = {"id": "src", "op": "load", "args": {"source": "math"}}


def _problems(make_task, write_recipe, tmp_path, steps, **kw) -> str:
    task, recipe = load(make_task({"math": math_rows(3)}), write_recipe(steps, **kw))
    with pytest.raises(RecipeValidationError) as e:
        run_recipe(recipe, task, tmp_path / "out", cache_dir=tmp_path / "cache", progress=False)
    assert not (tmp_path / "out").exists()  # nothing written
    assert not list((tmp_path / "cache" / "steps").iterdir())  # nothing ran
    return str(e.value)


def test_unknown_op_suggests_the_right_one(make_task, write_recipe, tmp_path):
    msg = _problems(make_task, write_recipe, tmp_path,
                    [LOAD, {"id": "f", "op": "filtr", "input": "src", "args": {}}, chat_after("f")])
    assert "step 'f' (op 'filtr')" in msg and "unknown op 'filtr'" in msg and "'filter'" in msg


def test_wrong_arg_type_names_the_arg(make_task, write_recipe, tmp_path):
    msg = _problems(make_task, write_recipe, tmp_path,
                    [LOAD, {"id": "s", "op": "sample", "input": "src", "args": {"n": "many"}}, chat_after("s")])
    assert "step 's' (op 'sample'): field 'n'" in msg and "integer" in msg


def test_unknown_arg_is_rejected(make_task, write_recipe, tmp_path):
    msg = _problems(make_task, write_recipe, tmp_path,
                    [LOAD, {"id": "s", "op": "shuffle", "input": "src", "args": {"sede": 1}}, chat_after("s")])
    assert "field 'sede'" in msg and "Extra inputs are not permitted" in msg


def test_step_reading_missing_field(make_task, write_recipe, tmp_path):
    msg = _problems(make_task, write_recipe, tmp_path, [
        LOAD, {"id": "f", "op": "filter", "input": "src", "args": {"expr": "len(question) > 3"}}, chat_after("f")])
    assert "step 'f' (op 'filter'): field 'question'" in msg and "available: problem, solution" in msg


def test_template_reading_missing_field(make_task, write_recipe, tmp_path):
    msg = _problems(make_task, write_recipe, tmp_path, [
        LOAD, {"id": "chat", "op": "to_chat", "input": "src", "args": {"user": "{question}", "assistant": "{x}"}}])
    assert "field 'question'" in msg and "field 'x'" in msg


def test_renamed_fields_flow_downstream(make_task, write_recipe, tmp_path):
    task, recipe = load(make_task({"math": math_rows(3)}), write_recipe([
        LOAD, {"id": "r", "op": "rename", "input": "src", "args": {"mapping": {"problem": "question"}}},
        {"id": "chat", "op": "to_chat", "input": "r", "args": {"user": "{question}", "assistant": "{solution}"}}]))
    assert run_recipe(recipe, task, tmp_path / "out", cache_dir=tmp_path / "c", progress=False).output.records == 3


def test_undefined_input(make_task, write_recipe, tmp_path):
    msg = _problems(make_task, write_recipe, tmp_path, [LOAD, chat_after("nowhere")])
    assert "step 'chat' (op 'to_chat'): field 'input'" in msg and "'nowhere' is not a defined step" in msg


def test_cycle(make_task, write_recipe, tmp_path):
    msg = _problems(make_task, write_recipe, tmp_path, [
        LOAD,
        {"id": "a", "op": "filter", "input": "b", "args": {"expr": "True"}},
        {"id": "b", "op": "filter", "input": "a", "args": {"expr": "True"}},
        chat_after("b")])
    assert "cycle" in msg and "a -> b -> a" in msg or "b -> a -> b" in msg


def test_unknown_source_lists_the_task_sources(make_task, write_recipe, tmp_path):
    msg = _problems(make_task, write_recipe, tmp_path, [
        {"id": "src", "op": "load", "args": {"source": "mth"}}, chat_after("src")])
    assert "step 'src' (op 'load'): field 'source'" in msg and "task sources: math" in msg


def test_missing_source_file(make_task, write_recipe, tmp_path):
    task_p = make_task({"math": math_rows(3)}, extra_sources=[{"id": "gone", "uri": "sources/gone.jsonl"}])
    task, recipe = load(task_p, write_recipe([{"id": "src", "op": "load", "args": {"source": "gone"}},
                                               chat_after("src")]))
    with pytest.raises(RecipeValidationError) as e:
        run_recipe(recipe, task, tmp_path / "out", cache_dir=tmp_path / "cache", progress=False)
    assert "step 'src'" in str(e.value) and "gone.jsonl" in str(e.value)


def test_output_must_be_chat(make_task, write_recipe, tmp_path):
    msg = _problems(make_task, write_recipe, tmp_path, [LOAD])
    assert "end the program with a `to_chat` step" in msg


def test_wrong_arity(make_task, write_recipe, tmp_path):
    msg = _problems(make_task, write_recipe, tmp_path, [
        LOAD, {"id": "m", "op": "mix", "input": "src", "args": {"weights": [1, 1], "total": 3}}, chat_after("m")])
    assert "step 'm' (op 'mix')" in msg and "2 weights for 1 inputs" in msg


def test_llm_ops_need_an_llm_client(make_task, write_recipe, tmp_path):
    msg = _problems(make_task, write_recipe, tmp_path, [
        LOAD, {"id": "cot", "op": "llm_map", "input": "src", "args": {"prompt": "Solve {problem}", "into": "cot"}},
        chat_after("cot")])
    assert "step 'cot' (op 'llm_map')" in msg and "needs an LLM client" in msg


def test_unsafe_expression_is_rejected(make_task, write_recipe, tmp_path):
    msg = _problems(make_task, write_recipe, tmp_path, [
        LOAD, {"id": "f", "op": "filter", "input": "src", "args": {"expr": "__import__('os').system('true')"}},
        chat_after("f")])
    assert "__import__" in msg and "is not allowed" in msg
    msg = _problems(make_task, write_recipe, tmp_path, [
        LOAD, {"id": "f", "op": "filter", "input": "src", "args": {"expr": "problem.__class__"}}, chat_after("f")])
    assert "attribute '.__class__' is not allowed" in msg


def test_template_attribute_access_is_rejected(make_task, write_recipe, tmp_path):
    msg = _problems(make_task, write_recipe, tmp_path, [
        LOAD, {"id": "chat", "op": "to_chat", "input": "src",
               "args": {"user": "{problem.__class__}", "assistant": "{solution}"}}])
    assert "step 'chat'" in msg and "must name a field" in msg


def test_all_problems_reported_at_once(make_task, write_recipe, tmp_path):
    msg = _problems(make_task, write_recipe, tmp_path, [
        LOAD,
        {"id": "a", "op": "sample", "input": "src", "args": {"n": -1}},
        {"id": "b", "op": "filter", "input": "src", "args": {"expr": "len(nope) > 1"}},
        {"id": "both", "op": "concat", "inputs": ["a", "b"]}, chat_after("both")])
    assert "2 problems" in msg


def test_malformed_recipe_file(tmp_path):
    p = tmp_path / "r.yaml"
    p.write_text("steps:\n  - id: a\n    op: load\n   args: [\n")
    with pytest.raises(SpecError, match=r"r\.yaml:\d+: invalid YAML"):
        load_recipe(p)
    p.write_text("plan: {}\n")
    with pytest.raises(SpecError, match="exactly one program"):
        load_recipe(p)
