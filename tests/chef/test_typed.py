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


def test_answer_field_appends_final_line_and_filter(kitchen, tmp_path):
    data = {**GOOD, "picks": [{"source": "arithmetic", "user_field": "question", "assistant_field": "question",
                               "answer_field": "answer", "sample": 20, "reason": ""}],
            "require_final_answer": True, "system_prompt": None}
    _, recipe = parse_typed(json.dumps(data), kitchen["task"], kitchen["profiles"], 0, 0)
    run_recipe(recipe, kitchen["task"], tmp_path / "o", cache_dir=tmp_path / "c", progress=False)
    for line in open(tmp_path / "o" / "data.jsonl"):
        assert "\n#### " in json.loads(line)["messages"][-1]["content"]


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
