"""Typed chef recipes: the task-specialised schema, parsing with clear errors, compilation to runnable steps."""
from __future__ import annotations

import json

import pytest

from datachef.chef import ChefRecipe, chef_schema, compile_chef_recipe, parse_typed
from datachef.engine import run_recipe

GOOD = {
    "workflow": "worked word problems plus a little arithmetic",
    "picks": [
        {"source": "gsm_symbolic_cot", "user_field": "question", "assistant_field": "solution", "answer_field": None,
         "sample": 150, "reason": "on-task"},
        {"source": "arithmetic", "user_field": "question", "assistant_field": "answer", "answer_field": None,
         "sample": 30, "reason": "skills"},
    ],
    "require_final_answer": False, "quality_filter": True, "dedup": "near", "decontaminate": True,
    "system_prompt": "Solve {carefully}.",
}


def test_schema_enumerates_sources_and_their_fields(kitchen):
    schema = chef_schema(kitchen["task"], kitchen["profiles"])
    pairs: dict[str, list[tuple[str, str]]] = {}
    for v in schema["properties"]["picks"]["items"]["anyOf"]:
        props = v["properties"]
        pairs.setdefault(props["source"]["const"], []).append(
            (props["user_field"]["const"], props["assistant_field"]["const"]))
    assert set(pairs) == {s.id for s in kitchen["task"].sources}
    # Each source offers only its own fields, in distinct, plausible (question -> response) pairs, best first.
    assert pairs["gsm_symbolic_cot"][0] == ("question", "solution")
    assert pairs["gsm_wrong_answers"][0] == ("problem", "worked_solution")
    assert pairs["gsm_dupes"] == [("input", "output")]
    assert all(u != a for ps in pairs.values() for u, a in ps)


def test_parse_compile_and_run(kitchen, tmp_path):
    chef, recipe = parse_typed("Here it is:\n" + json.dumps(GOOD), kitchen["task"], kitchen["profiles"], 0, 0)
    assert chef.picks[0].source == "gsm_symbolic_cot" and recipe.output == "shuffle"
    m = run_recipe(recipe, kitchen["task"], tmp_path / "out", cache_dir=tmp_path / "c", progress=False)
    assert 0 < m.output.records <= 180
    first = json.loads(open(tmp_path / "out" / "data.jsonl").readline())
    assert first["messages"][0] == {"role": "system", "content": "Solve {carefully}."}


def test_answer_field_appends_one_final_line_and_filter(make_task, tmp_path):
    from datachef.io import load_task, task_base_dir
    from datachef.sources import open_source, profile_source

    rows = [{"problem": f"Ann has {i} pens and buys {i + 2} more pens at the shop. How many pens has she now?",
             "solution": f"Ann starts with {i} pens and buys {i + 2}, so she has {i} + {i + 2} = {2 * i + 2} pens."
                         + ("\n#### " + str(2 * i + 2) if i % 2 else ""),
             "answer": str(2 * i + 2)} for i in range(40)]
    task = load_task(make_task({"pens": rows}))
    profiles = [profile_source(open_source(s, task_base_dir(task))) for s in task.sources]
    data = {**GOOD, "picks": [{"source": "pens", "user_field": "problem", "assistant_field": "solution",
                               "answer_field": "answer", "sample": 30, "reason": ""}],
            "require_final_answer": True, "system_prompt": None, "dedup": "none", "decontaminate": False}
    _, recipe = parse_typed(json.dumps(data), task, profiles, 0, 0)
    run_recipe(recipe, task, tmp_path / "o", cache_dir=tmp_path / "c", progress=False)
    replies = [json.loads(line)["messages"][-1]["content"] for line in open(tmp_path / "o" / "data.jsonl")]
    assert replies and all(r.count("####") == 1 and r.rstrip().endswith("#### " + r.split()[-1]) for r in replies)


def test_answer_field_is_offered_only_as_a_short_answer_to_a_worked_reply(kitchen):
    schema = chef_schema(kitchen["task"], kitchen["profiles"])
    offered = {}
    for v in schema["properties"]["picks"]["items"]["anyOf"]:
        props = v["properties"]
        ans = props["answer_field"]
        offered[(props["source"]["const"], props["assistant_field"]["const"])] = \
            ans.get("anyOf", [{}, {}])[1].get("enum", []) if "anyOf" in ans else []
    assert offered[("gsm_symbolic_cot", "solution")] == ["answer"]
    # A source with worked solutions offers its bare answer only as their final line, never as a reply of its own
    # (a Task mismatch where the benchmark shows its work); a source without them still offers it.
    assert ("gsm_symbolic_cot", "answer") not in offered
    assert offered[("arithmetic", "answer")] == []
    # The role swap that fooled the verifier (bare answer as reply, worked solution as "answer") is refused.
    data = {**GOOD, "picks": [{"source": "gsm_leaky", "user_field": "question", "assistant_field": "answer",
                               "answer_field": "solution", "sample": 50, "reason": ""}]}
    with pytest.raises(ValueError, match="answer_field 'solution' is not a short final answer"):
        parse_typed(json.dumps(data), kitchen["task"], kitchen["profiles"], 0, 0)


def test_a_source_picked_twice_is_loaded_once(kitchen):
    twice = {**GOOD, "picks": [GOOD["picks"][0], {**GOOD["picks"][0], "sample": 50}, GOOD["picks"][1]]}
    chef, recipe = parse_typed(json.dumps(twice), kitchen["task"], kitchen["profiles"], 0, 0)
    loads = [s for s in recipe.steps if s.op == "load"]
    assert [s.args["source"] for s in loads] == ["gsm_symbolic_cot", "arithmetic"]
    assert [(p.source, p.sample) for p in recipe.plan.training_data] == [("gsm_symbolic_cot", 200), ("arithmetic", 30)]


@pytest.mark.parametrize("mutate,message", [
    (lambda d: d["picks"][0].update(source="nope"), "unknown source 'nope'"),
    (lambda d: d["picks"][0].update(user_field="problem"), "has no field 'problem'"),
    (lambda d: d.update(dedup="fuzzy"), "dedup"),
])
def test_parse_errors_are_readable(kitchen, mutate, message):
    data = json.loads(json.dumps(GOOD))
    mutate(data)
    with pytest.raises(ValueError, match=message):
        parse_typed(json.dumps(data), kitchen["task"], kitchen["profiles"], 0, 0)
    with pytest.raises(ValueError, match="no JSON"):
        parse_typed("I would use the gold source.", kitchen["task"], kitchen["profiles"], 0, 0)


def test_single_pick_compiles_to_sample(kitchen):
    chef = ChefRecipe.model_validate({**GOOD, "picks": GOOD["picks"][:1], "dedup": "none", "decontaminate": False})
    recipe = compile_chef_recipe(chef, kitchen["task"])
    assert [s.op for s in recipe.steps] == ["load", "quality_filter", "to_chat", "sample", "shuffle"]


def test_require_final_answer_formats_bare_numeric_replies(kitchen, tmp_path):
    # A drill source's whole reply is the number; the final-answer filter used to drop every row of it, so the
    # recipe produced nothing. Now the bare number becomes the '#### N' line the filter asks for.
    data = {**GOOD, "picks": [{"source": "math_puzzles", "user_field": "prompt", "assistant_field": "target",
                               "answer_field": None, "sample": 40, "reason": ""}],
            "require_final_answer": True, "system_prompt": None, "dedup": "none", "decontaminate": False}
    _, recipe = parse_typed(json.dumps(data), kitchen["task"], kitchen["profiles"], 0, 0)
    m = run_recipe(recipe, kitchen["task"], tmp_path / "o", cache_dir=tmp_path / "c", progress=False)
    assert m.output.records > 0
    replies = [json.loads(line)["messages"][-1]["content"] for line in open(tmp_path / "o" / "data.jsonl")]
    assert all(r.startswith("#### ") and r.count("####") == 1 for r in replies)


def test_system_prompt_is_the_task_instruction_or_none(kitchen):
    schema = chef_schema(kitchen["task"], kitchen["profiles"])
    assert schema["properties"]["system_prompt"] == {"enum": [None, kitchen["task"].instruction.strip()]}
    free = chef_schema(kitchen["task"], kitchen["profiles"], free_system_prompt=True)["properties"]["system_prompt"]
    assert {"type": "null"} in free["anyOf"]
