"""The policy's compact form: prompt within its token budget, every option on a card, answers that round-trip to the
chef's typed recipe, the schema's bounds, and readable errors for answers that are not recipes."""
from __future__ import annotations

import json

import pytest

from datachef.chef import ChefRecipe
from datachef.chef.compact import (MAX_PROMPT_TOKENS, compact_prompt, compact_schema, estimate_tokens,
                                   from_chef_recipe, options, parse_compact)
from datachef.chef.search import program_key
from datachef.chef.typed import compile_chef_recipe

from .conftest import kitchen  # noqa: F401 - the gsm8k kitchen fixture
from .test_typed import GOOD


def test_options_cover_each_sources_field_pairs(kitchen):  # noqa: F811
    opts = options(kitchen["profiles"])
    assert {o.source for o in opts} == {p.id for p in kitchen["profiles"]}
    gold = [o for o in opts if o.source == "gsm_symbolic_cot"]
    assert (gold[0].user, gold[0].assistant, gold[0].answer) == ("question", "solution", None)
    assert any(o.answer == "answer" for o in gold)  # the '#### answer' variant


def test_prompt_fits_its_budget_and_lists_every_option(kitchen):  # noqa: F811
    text = compact_prompt(kitchen["task"], kitchen["profiles"], kitchen["dev"])
    assert estimate_tokens(text) <= MAX_PROMPT_TOKENS
    for k, o in enumerate(options(kitchen["profiles"])):
        assert f"{k} = {o.label()}" in text
    assert "Budget: 2000 training samples" in text and '"use"' in text
    # A tighter budget drops card examples, then descriptions, never the options.
    tight = compact_prompt(kitchen["task"], kitchen["profiles"], kitchen["dev"], max_tokens=450)
    assert "e.g." not in tight and len(tight) < len(text)
    assert all(f"{k} = " in tight for k in range(len(options(kitchen["profiles"]))))


def test_a_typed_recipe_round_trips_through_the_compact_answer(kitchen):  # noqa: F811
    typed = ChefRecipe.model_validate({**GOOD, "system_prompt": None})
    text = from_chef_recipe(typed, kitchen["profiles"])
    assert len(text) < 150 and json.loads(text)["dedup"] == "near"
    chef, recipe = parse_compact(text, kitchen["task"], kitchen["profiles"], 0, 0)
    assert program_key(recipe) == program_key(compile_chef_recipe(typed, kitchen["task"], seed=0))
    assert [(p.source, p.sample) for p in chef.picks] == [("gsm_symbolic_cot", 150), ("arithmetic", 30)]


def test_schema_bounds_options_and_sizes(kitchen):  # noqa: F811
    schema = compact_schema(kitchen["task"], kitchen["profiles"])
    item = schema["properties"]["use"]["items"]["properties"]
    assert item["o"]["enum"] == list(range(len(options(kitchen["profiles"]))))
    assert (item["n"]["minimum"], item["n"]["maximum"]) == (100, 2000)
    assert schema["properties"]["final"] == {"type": "boolean"}  # GSM8K is numeric


@pytest.mark.parametrize("text, error", [
    ("use the gold source", "no JSON object"),
    ('{"use": []}', "use: List should have at least 1 item"),
    ('{"use": [{"o": 99, "n": 10}]}', "option 99 does not exist"),
    ('{"use": [{"o": 0, "n": 10}], "dedup": "fuzzy"}', "dedup must be none, exact or near"),
])
def test_answers_that_are_not_recipes_say_why(kitchen, text, error):  # noqa: F811
    with pytest.raises(ValueError, match=error):
        parse_compact(text, kitchen["task"], kitchen["profiles"], 0, 0)


def test_compact_completions_get_rewards(kitchen, tmp_path):  # noqa: F811
    from datachef.rl import RecipeReward, RewardConfig, RolloutTask

    from ..chef.test_cook import Judge

    rt = RolloutTask(kitchen["dir"] / "task.yaml", kitchen["task"], kitchen["profiles"])
    reward = RecipeReward(RewardConfig(sample=20, cache_dir=tmp_path / "cache"), judge=Judge("judge"),
                          work_dir=tmp_path / "rewards")
    good = from_chef_recipe(ChefRecipe.model_validate({**GOOD, "system_prompt": None}), kitchen["profiles"])
    results = reward([good, '{"use": [{"o": 99, "n": 10}]}'], [rt, rt])
    assert results[0].status == "ok" and results[0].reward > 0
    assert results[1].status == "format_violation" and results[1].reward == reward.format_penalty


def test_chef_writes_the_compact_form_under_its_grammar_and_freely(kitchen, tmp_path):  # noqa: F811
    """`--mode compact`: the chef prompts with the compact prompt; under the grammar a random model's drafts are all
    recipes, each draft sampled with its own seed; without it (`--free`) they are not and say why."""
    pytest.importorskip("xgrammar")
    from datachef.chef import Chef, ChefConfig
    from datachef.llm.local import TransformersClient
    from datachef.llm.models import tiny_random_model

    client = TransformersClient(str(tiny_random_model(tmp_path / "tiny")), num_threads=1)
    args = (kitchen["task"], kitchen["profiles"], kitchen["text"], kitchen["dev"], 3)
    drafts = Chef(client, ChefConfig(form="compact", max_repairs=0, temperature=1.0)).draft(*args)
    assert all(d.valid and d.form == "compact" and d.chef_recipe is not None for d in drafts), [d.error for d in drafts]
    assert len({d.response for d in drafts}) == 3  # one seed per draft: the prompt is the same for all
    free = Chef(client, ChefConfig(form="compact", max_repairs=0, constrained=False)).draft(*args)
    assert not any(d.valid for d in free) and all(d.error for d in free)
