"""Chef.draft: prompts reach the model with the task's schema; invalid answers are repaired within the bound."""
from __future__ import annotations

import json

from datachef.chef import Chef, ChefConfig
from datachef.llm.base import Completion, LLMClient

from .test_typed import GOOD


class Scripted(LLMClient):
    """Replies from a script: each call pops the next answer for each conversation; records what it was asked."""

    backend = "test"

    def __init__(self, answers):
        super().__init__("scripted")
        self.answers, self.calls = list(answers), []

    def _chat_batch(self, batch, params, json_schema):
        self.calls.append({"batch": batch, "schema": json_schema, "params": params})
        return [Completion(self.answers.pop(0), completion_tokens=5) for _ in batch]


def test_typed_draft_with_repair(kitchen):
    bad = json.dumps({**GOOD, "picks": [{**GOOD["picks"][0], "assistant_field": "nope"}]})
    llm = Scripted([bad, json.dumps(GOOD), json.dumps(GOOD)])
    drafts = Chef(llm, ChefConfig(max_repairs=1)).draft(kitchen["task"], kitchen["profiles"], kitchen["text"],
                                                        kitchen["dev"], n=2)
    assert [d.valid for d in drafts] == [True, True]
    assert drafts[0].repairs == 1 and drafts[1].repairs == 0
    first, second = llm.calls
    assert first["schema"]["properties"]["picks"]["items"]["anyOf"]  # constrained by the task schema
    user = first["batch"][0][1]["content"]
    assert "gsm_symbolic_cot" in user and "GSM8K" in user and "Hint:" in user
    assert first["batch"][0][1]["content"] != first["batch"][1][1]["content"]  # candidates explore differently
    repair = second["batch"][0][-1]["content"]
    assert "has no field 'nope'" in repair


def test_repairs_are_bounded(kitchen):
    llm = Scripted(["not json"] * 3)
    (d,) = Chef(llm, ChefConfig(max_repairs=2)).draft(kitchen["task"], kitchen["profiles"], kitchen["text"],
                                                     kitchen["dev"], n=1)
    assert not d.valid and "no JSON" in d.error and d.repairs == 2 and len(llm.calls) == 3
    # Every repair round starts from the original prompt plus only the latest answer and its error, so the
    # conversation does not grow with the rounds (it outgrew SmolLM2's context by the third round).
    second, third = llm.calls[1]["batch"][0], llm.calls[2]["batch"][0]
    assert [m["role"] for m in third] == ["system", "user", "assistant", "user"]
    assert third[:2] == llm.calls[0]["batch"][0] and len(json.dumps(third)) == len(json.dumps(second))


def test_python_form_extracts_script(kitchen):
    script = "plan: gold only\n```python\nfrom datachef import kit\nrows = kit.load('gsm_symbolic_cot')\n" \
             "kit.dump(kit.to_chat(rows, user='{question}', assistant='{solution}'))\n```"
    llm = Scripted(["```python\nprint(\n```", script])
    (d,) = Chef(llm, ChefConfig(form="python", max_repairs=1)).draft(
        kitchen["task"], kitchen["profiles"], kitchen["text"], kitchen["dev"], n=1)
    assert d.valid and "kit.dump" in d.recipe.python and d.recipe.plan.workflow.startswith("plan: gold only")
    assert llm.calls[0]["schema"] is None


def test_decoupled_mode_uses_planner_then_coder(kitchen):
    planner = Scripted(["Use gsm_symbolic_cot, 150 samples."])
    coder = Scripted([json.dumps(GOOD)])
    (d,) = Chef(planner, ChefConfig(decoupled=True), coder=coder).draft(
        kitchen["task"], kitchen["profiles"], kitchen["text"], kitchen["dev"], n=1)
    assert d.valid
    assert "Use gsm_symbolic_cot, 150 samples." in coder.calls[0]["batch"][0][1]["content"]


def test_a_refused_prompt_fails_the_draft_without_repairs(kitchen):
    class Refusing(Scripted):
        max_context = 100

        def _chat_batch(self, batch, params, json_schema):
            self.calls.append({"batch": batch})
            return [Completion("", finish_reason="error", prompt_tokens=2000) for _ in batch]

    llm = Refusing([])
    (d,) = Chef(llm, ChefConfig(max_repairs=2)).draft(kitchen["task"], kitchen["profiles"], kitchen["text"],
                                                     kitchen["dev"], n=1)
    assert not d.valid and len(llm.calls) == 1  # a repair would only lengthen the prompt
    assert "2000 tokens does not fit its context of 100 tokens" in d.error


def test_chef_prompts_are_compact(kitchen):
    from datachef.chef import prompts
    from datachef.chef.generate import kit_doc

    text = prompts.chef_profiles(kitchen["profiles"])
    for p in kitchen["profiles"]:
        assert f"## {p.id}" in text and all(f.name in text for f in p.fields)
    assert text.count("example: ") == len(kitchen["profiles"])  # one example row per source
    # The core kit catalogue with short signatures, plus a whole example script; the full one stays available.
    short, full = kit_doc(), kit_doc(full=True)
    assert "kit.dump(rows)" in short and "kit.generate_rows" not in short and "kit.generate_rows" in full
    assert len(short) < len(full) / 1.5
    user = prompts.python_user_prompt(kitchen["task"], kitchen["dev"], text, short, 0)
    assert "```python\nfrom datachef import kit" in user and len(user) < 12000


def test_drafts_that_share_a_hint_get_seeds_of_their_own(kitchen):
    from datachef.chef import prompts

    hints = len(prompts.VARIATIONS)
    llm = Scripted([json.dumps(GOOD)] * (hints + 2))
    Chef(llm, ChefConfig(seed=7)).draft(kitchen["task"], kitchen["profiles"], kitchen["text"], kitchen["dev"],
                                        n=hints + 2)
    # One batched call per cycle of hints: drafts 0 and 8 read the same prompt, so their seeds must differ.
    assert [(len(call["batch"]), call["params"].seed) for call in llm.calls] == [(hints, 7), (2, 7 + 7919)]
    first, second = llm.calls
    assert first["batch"][0] == second["batch"][0]


def test_draft_progress_covers_every_rounds_budget(kitchen):
    import io

    from tqdm import tqdm

    bad = json.dumps({**GOOD, "picks": [{**GOOD["picks"][0], "assistant_field": "nope"}]})
    llm = Scripted([bad, json.dumps(GOOD), json.dumps(GOOD)])
    bar = tqdm(file=io.StringIO())
    Chef(llm, ChefConfig(max_repairs=1, max_tokens=50)).draft(kitchen["task"], kitchen["profiles"], kitchen["text"],
                                                              kitchen["dev"], n=2, progress=bar)
    assert bar.total == 3 * 50 and bar.n == bar.total  # two first answers and one repair, each a full budget
    assert "drafting (reading the prompts)" in bar.fp.getvalue()  # before the first token
    assert str(bar).startswith("drafting (repair round 1): 100%")


STEPS = {"plan": {"training_data": [{"source": "gsm_symbolic_cot", "sample": 300, "reason": "worked solutions"}],
                  "workflow": "load, render as chat, dedup, decontaminate, sample"},
         "steps": [{"id": "a", "op": "load", "args": {"source": "gsm_symbolic_cot"}},
                   {"id": "chat", "op": "to_chat", "input": "a",
                    "args": {"user": "{question}", "assistant": "{solution}"}},
                   {"id": "unique", "op": "dedup_exact", "input": "chat", "args": {}},
                   {"id": "clean", "op": "decontaminate", "input": "unique", "args": {}},
                   {"id": "corpus", "op": "sample", "input": "clean", "args": {"n": 300, "seed": 0}}],
         "output": "corpus"}


def test_steps_draft_is_the_whole_dag_under_the_task_schema_with_repair(kitchen, tmp_path):
    from datachef.engine import run_recipe

    bad = json.dumps({**STEPS, "steps": STEPS["steps"][:1] + [{"id": "chat", "op": "to_chat", "input": "a",
                                                               "args": {"user": "{nope}", "assistant": "{solution}"}}]
                      + STEPS["steps"][2:]})
    llm = Scripted([bad, json.dumps(STEPS)])
    drafts = Chef(llm, ChefConfig(form="steps", max_repairs=1)).draft(
        kitchen["task"], kitchen["profiles"], kitchen["text"], kitchen["dev"], n=1)
    assert drafts[0].valid and drafts[0].repairs == 1 and drafts[0].recipe.output == "corpus"
    first, second = llm.calls
    schema = first["schema"]
    assert set(schema["properties"]) == {"plan", "steps", "output"}
    ops = {v["properties"]["op"]["const"] for v in schema["properties"]["steps"]["items"]["oneOf"]}
    assert {"load", "to_chat", "llm_map", "decontaminate"} <= ops  # LLM ops too, which ChefRecipe cannot use
    user = first["batch"][0][1]["content"]
    assert "# Operators" in user and "- dedup_near (" in user
    assert "nope" in second["batch"][0][-1]["content"]  # the engine's error goes back to the model
    manifest = run_recipe(drafts[0].recipe, kitchen["task"], tmp_path / "run", cache_dir=tmp_path / "cache",
                          progress=False)
    assert manifest.output.records == 300
