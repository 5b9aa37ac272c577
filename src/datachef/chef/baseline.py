"""The "random valid recipe" baseline: a chef that draws typed recipes uniformly from the task's own schema (the
same space the constrained LLM chef decodes in), so a learned chef's DVS is read against what chance gets."""
from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from ..spec import SourceProfile, TaskSpec
from .generate import Draft
from .typed import ChefRecipe, SourcePick, chef_schema, compile_chef_recipe


def random_chef_recipe(task: TaskSpec, profiles: list[SourceProfile], rng: random.Random,
                       max_picks: int = 4) -> ChefRecipe:
    """One recipe drawn uniformly from the schema's choices: 1..max_picks source/field variants, each with a sample
    size in the schema's bounds and an answer field among those allowed, and every switch at random."""
    schema = chef_schema(task, profiles, max_picks=max_picks)
    variants = schema["properties"]["picks"]["items"]["anyOf"]
    picks = []
    for variant in rng.sample(variants, rng.randint(1, min(max_picks, len(variants)))):
        props = variant["properties"]
        answer_options: list[Any] = [None]
        spec = props["answer_field"]
        for option in spec.get("anyOf", [spec]):
            answer_options += option.get("enum", [])
        size = props["sample"]
        picks.append(SourcePick(source=props["source"]["const"], user_field=props["user_field"]["const"],
                                assistant_field=props["assistant_field"]["const"],
                                answer_field=rng.choice(answer_options),
                                sample=rng.randint(size["minimum"], size["maximum"]), reason="random baseline"))
    system = schema["properties"]["system_prompt"].get("enum", [None])
    final = schema["properties"]["require_final_answer"]
    return ChefRecipe(workflow="random baseline", picks=picks,
                      require_final_answer=final["const"] if "const" in final else rng.random() < 0.5,
                      quality_filter=rng.random() < 0.5, dedup=rng.choice(["none", "exact", "near"]),
                      decontaminate=rng.random() < 0.5, system_prompt=rng.choice(system))


@dataclass
class RandomChefConfig:
    form: str = "typed"
    decoupled: bool = False
    seed: int = 0


class RandomChef:
    """Chef-shaped (`draft`, `config`, `llm`): what chef-eval and cook need from a chef."""

    llm = None
    coder = None

    def __init__(self, seed: int = 0):
        self.config = RandomChefConfig(seed=seed)

    def draft(self, task: TaskSpec, profiles: list[SourceProfile], profiles_text: str, dev: list[dict],
              n: int, start: int = 0, progress: Any = None) -> list[Draft]:
        drafts = []
        for i in range(start, start + n):
            rng = random.Random(f"random-chef:{task.name}:{self.config.seed}:{i}")
            chef_recipe = random_chef_recipe(task, profiles, rng)
            recipe = compile_chef_recipe(chef_recipe, task, name=f"random-{i}", seed=self.config.seed)
            drafts.append(Draft(index=i, form="typed", response=chef_recipe.model_dump_json(), recipe=recipe,
                                chef_recipe=chef_recipe))
        return drafts
