"""Recipe generation: prompt the chef model, parse its answer, validate it, and repair it (bounded) on failure.

Recipe forms: `typed` (a ChefRecipe JSON under constrained decoding, compiled to a steps program), `compact` (the
same decisions as ~50 tokens of numbered options after a short prompt: the form the RL policy learns,
chef.compact), `steps` (the whole op DAG) and `python` (the paper's form: a datachef.kit script run in the
sandbox). Two generation modes, as in the paper: end-to-end (plan and program in one response) and decoupled (a
planner writes the plan, a coder — possibly another model — writes the program; not for the compact form).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import partial
from typing import Literal

from tqdm import tqdm

from ..errors import DatachefError
from ..llm.base import Completion, LLMClient, Messages, SamplingParams
from ..spec import Plan, Recipe, SourceProfile, TaskSpec
from . import compact, prompts
from .answer import json_answer, model_from_json, validated
from .typed import ChefRecipe, answer_fields, chef_schema, compile_chef_recipe

_CODE = re.compile(r"```(?:python|py)?\s*\n(.*?)```", re.DOTALL)


@dataclass
class Draft:
    """One generated recipe, before execution."""

    index: int
    form: Literal["typed", "python", "steps", "compact"]
    response: str = ""
    recipe: Recipe | None = None
    chef_recipe: ChefRecipe | None = None
    error: str | None = None
    repairs: int = 0
    history: list[str] = field(default_factory=list)  # responses, oldest first

    @property
    def valid(self) -> bool:
        return self.recipe is not None


@dataclass
class ChefConfig:
    form: Literal["typed", "python", "steps", "compact"] = "typed"
    decoupled: bool = False
    temperature: float = 0.8
    max_tokens: int | None = None  # None: 700, or the compact form's 120 (its answers are ~50 tokens)
    max_repairs: int = 2
    seed: int = 0
    # JSON forms (typed, steps, compact) decode under their schema's grammar; False samples freely (what a policy
    # trained to write the form without a grammar is measured by: unconstrained executability).
    constrained: bool = True

    def __post_init__(self) -> None:
        if self.form == "compact" and self.decoupled:
            raise DatachefError("the compact form is written in one answer: it has no planner/coder split (drop "
                                "--decoupled / --coder-model)")

    @property
    def answer_tokens(self) -> int:
        return self.max_tokens or (compact.ANSWER_TOKENS if self.form == "compact" else 700)


def parse_typed(text: str, task: TaskSpec, profiles: list[SourceProfile], index: int,
                seed: int) -> tuple[ChefRecipe, Recipe]:
    """JSON text → ChefRecipe → compiled Recipe, validated by the engine. Raises ValueError with a readable reason."""
    data = json_answer(text)
    chef = model_from_json(ChefRecipe, data, "recipe")
    fields = {p.id: {f.name for f in p.fields} for p in profiles}
    by_id = {p.id: p for p in profiles}
    for pick in chef.picks:
        if pick.source not in fields:
            raise ValueError(f"unknown source '{pick.source}' (sources: {', '.join(fields)})")
        for f in (pick.user_field, pick.assistant_field, pick.answer_field):
            if f is not None and f not in fields[pick.source]:
                raise ValueError(f"source '{pick.source}' has no field '{f}' (fields: "
                                 f"{', '.join(sorted(fields[pick.source]))})")
        # The schema offers only these; a model writing unconstrained JSON (a remote chef) is held to the same rule.
        if pick.answer_field is not None and pick.answer_field not in answer_fields(
                by_id[pick.source], pick.user_field, pick.assistant_field):
            allowed = answer_fields(by_id[pick.source], pick.user_field, pick.assistant_field)
            raise ValueError(f"source '{pick.source}': answer_field '{pick.answer_field}' is not a short final answer "
                             f"to append to '{pick.assistant_field}' (allowed: "
                             f"{', '.join(allowed) if allowed else 'none, use null'})")
    return chef, validated(compile_chef_recipe(chef, task, name=f"chef-{index}", seed=seed), task)


def parse_steps(text: str, task: TaskSpec, index: int) -> Recipe:
    """JSON text → a `steps` Recipe, compiled by the engine (ops, args, inputs, fields, output). Raises ValueError
    with a readable reason."""
    data = json_answer(text)
    if not isinstance(data, dict):
        raise ValueError("the answer is not a JSON object")
    data = {**data, "name": f"chef-{index}", "task": task.name}
    data.pop("python", None)
    return validated(model_from_json(Recipe, data, "recipe"), task)


def steps_schema(task: TaskSpec) -> dict:
    """The recipe JSON Schema specialised to the task (every op's args typed, source ids an enum), cut to what the
    chef writes: plan, steps, output."""
    from ..engine.schema import recipe_schema

    schema = recipe_schema(task)
    steps = schema["properties"]["steps"]["anyOf"][0]  # the array (not null)
    schema["properties"] = {"plan": schema["properties"]["plan"], "steps": {**steps, "minItems": 1},
                            "output": {"type": "string"}}
    schema["required"] = ["plan", "steps", "output"]
    schema["additionalProperties"] = False
    return schema


def parse_python(text: str, task: TaskSpec, index: int) -> Recipe:
    blocks = _CODE.findall(text)
    if not blocks:
        raise ValueError("the answer contains no ```python code block")
    code = max(blocks, key=len)
    try:
        compile(code, f"<chef-{index}>", "exec")
    except SyntaxError as e:
        raise ValueError(f"the script does not parse: line {e.lineno}: {e.msg}") from None
    if "dump(" not in code:
        raise ValueError("the script never calls kit.dump(rows), so it produces no data")
    plan_text = _CODE.sub("", text).strip()
    return Recipe(name=f"chef-{index}", task=task.name, plan=Plan(workflow=plan_text[:2000]), python=code)


# The kit functions a recipe needs; the rest (LLM generation, rename/select/template, language id) stay reachable
# through kit.apply but are left out of the prompt, where every line costs prefill time.
CORE_KIT = ("load", "filter", "map", "extract_answer", "quality_filter", "to_chat", "mix", "sample", "dedup",
            "decontaminate", "shuffle", "dump")


def _short_signature(fn, max_params: int = 6) -> str:
    """`(a, b=1, c=None)` without type annotations (they double a signature's length); long tails of tuning
    thresholds become `...`."""
    import inspect

    parts = []
    for prm in inspect.signature(fn).parameters.values():
        if prm.kind is prm.VAR_POSITIONAL:
            parts.append("*" + prm.name)
        elif prm.kind is prm.VAR_KEYWORD:
            parts.append("**" + prm.name)
        elif prm.default is prm.empty:
            parts.append(prm.name)
        else:
            parts.append(f"{prm.name}={prm.default!r}")
    if len(parts) > max_params:
        parts = parts[:max_params] + ["..."]
    return "(" + ", ".join(parts) + ")"


def kit_doc(full: bool = False) -> str:
    """The kit API as the chef sees it (from the kit module's docstrings): the core functions with short signatures
    and the first sentence of their docs, or (`full`) every function with its typed signature and first paragraph."""
    try:
        from .. import kit
    except ImportError:  # pragma: no cover - kit ships with the package
        return ""
    import inspect

    lines = ["from datachef import kit"]
    for name in getattr(kit, "__all__", []):
        if not full and name not in CORE_KIT:
            continue
        fn = getattr(kit, name)
        doc = (inspect.getdoc(fn) or "").split("\n\n")[0].replace("\n", " ")
        if full:
            lines.append(f"kit.{name}{inspect.signature(fn)}  # {doc}")
        else:
            first = re.split(r"(?<=[a-z0-9)'\"]\.)\s+(?=[A-Z])", doc, maxsplit=1)[0]
            lines.append(f"kit.{name}{_short_signature(fn)}  # {first}")
    return "\n".join(lines)


def _advance(bar: tqdm, label: str, units: int) -> None:
    bar.set_description(label, refresh=False)
    bar.update(units)


class Chef:
    """Writes recipes for a task with an LLM (the planner), optionally a second LLM (the coder)."""

    def __init__(self, llm: LLMClient, config: ChefConfig | None = None, coder: LLMClient | None = None):
        self.llm, self.coder = llm, coder or llm
        self.config = config or ChefConfig()

    def _params(self, max_tokens: int | None = None, cycle: int = 0,
                temperature: float | None = None) -> SamplingParams:
        c = self.config
        # Cycles far apart in seed space: seed s's second cycle is not seed s+1's first.
        return SamplingParams(max_tokens=max_tokens or c.answer_tokens,
                              temperature=c.temperature if temperature is None else temperature,
                              seed=c.seed + 7919 * cycle)

    def _complete(self, model: LLMClient, drafts: list[Draft], conversations: list[Messages],
                  max_tokens: int | None, schema: dict | None, progress: tqdm | None, label: str,
                  temperature: float | None = None) -> list[Completion]:
        """One batched call per cycle of the prompts' hints, each cycle with a seed of its own: drafts i and
        i + len(VARIATIONS) are asked the same thing, so only the seed tells them apart (within a cycle the prompts
        differ, and the local backend seeds each request by its prompt). `label`: the bar's description."""
        # The compact form has one prompt for every draft (no hints): each draft is then a cycle of its own.
        per_cycle = 1 if self.config.form == "compact" else len(prompts.VARIATIONS)
        cycles: dict[int, list[int]] = {}
        for j, d in enumerate(drafts):
            cycles.setdefault(d.index // per_cycle, []).append(j)
        out: list[Completion | None] = [None] * len(drafts)
        for cycle, rows in cycles.items():
            if progress is not None:
                # The prompt pass reports no tokens (a minute for 8 long prompts on a busy small CPU): say so.
                progress.set_description(f"{label} (reading the prompts)")
            done = model.chat_batch([conversations[j] for j in rows], self._params(max_tokens, cycle, temperature),
                                    json_schema=schema,
                                    progress=partial(_advance, progress, label) if progress is not None else None)
            for j, c in zip(rows, done):
                out[j] = c
        return out  # type: ignore[return-value]

    def draft(self, task: TaskSpec, profiles: list[SourceProfile], profiles_text: str, dev: list[dict],
              n: int, start: int = 0, progress: tqdm | None = None,
              temperature: float | None = None) -> list[Draft]:
        """Generate n recipes (batched calls per round), then repair the invalid ones (bounded rounds). `start`: the
        first draft's index (indices pick hints and seeds). `progress`: a bar whose total this sets to the rounds'
        token budgets (repair rounds grow it) and advances as tokens come. `temperature`: instead of the config's."""
        c = self.config
        drafts = [Draft(index=start + i, form=c.form) for i in range(n)]
        schema = (chef_schema(task, profiles) if c.form == "typed" else steps_schema(task) if c.form == "steps"
                  else compact.compact_schema(task, profiles) if c.form == "compact" else None)
        if not c.constrained:
            schema = None
        kdoc = kit_doc() if c.form == "python" else ""
        ops = prompts.ops_doc() if c.form == "steps" else ""
        plan_tokens = 300
        if progress is not None:
            progress.total = n * (c.answer_tokens + (plan_tokens if c.decoupled else 0))
            progress.refresh()
        conversations: list[Messages] = []
        if c.decoupled:
            plans = self._complete(self.llm, drafts, [
                [{"role": "system", "content": prompts.SYSTEM},
                 {"role": "user", "content": prompts.plan_user_prompt(task, dev, profiles_text, d.index)}]
                for d in drafts], plan_tokens, None, progress, "planning", temperature)
            for d, p in zip(drafts, plans):
                conversations.append([{"role": "system", "content": prompts.SYSTEM},
                                      {"role": "user", "content": prompts.coder_user_prompt(
                                          task, profiles_text, p.text, c.form == "python", kdoc)}])
        elif c.form == "compact":
            conversations = [compact.messages(compact.compact_prompt(task, profiles, dev)) for _ in drafts]
        else:
            for d in drafts:
                user = (prompts.typed_user_prompt(task, dev, profiles_text, d.index) if c.form == "typed"
                        else prompts.steps_user_prompt(task, dev, profiles_text, ops, d.index) if c.form == "steps"
                        else prompts.python_user_prompt(task, dev, profiles_text, kdoc, d.index))
                conversations.append([{"role": "system", "content": prompts.SYSTEM},
                                      {"role": "user", "content": user}])
        base = [list(conv) for conv in conversations]
        pending = list(range(n))
        model = self.coder if c.decoupled else self.llm
        for round_ in range(c.max_repairs + 1):
            if not pending:
                break
            if round_ and progress is not None:
                progress.total += len(pending) * c.answer_tokens
            outs = self._complete(model, [drafts[i] for i in pending], [conversations[i] for i in pending],
                                  None, schema, progress, f"drafting (repair round {round_})" if round_ else "drafting",
                                  temperature)
            still = []
            for i, out in zip(pending, outs):
                d = drafts[i]
                d.response = out.text
                d.history.append(out.text)
                d.repairs = round_
                if out.finish_reason == "error":
                    # The backend refused this prompt (e.g. longer than the model's context): a repair round would
                    # only make it longer, so the draft fails now with the reason.
                    window = getattr(model, "max_context", None)
                    d.error = (f"the model could not answer: the prompt of {out.prompt_tokens} tokens"
                               + (f" does not fit its context of {window} tokens" if window and
                                  out.prompt_tokens >= window else " was refused by the backend"))
                    continue
                try:
                    if c.form in ("typed", "steps", "compact") and out.finish_reason == "length":
                        raise ValueError("the answer was cut off (token limit) before the JSON was complete")
                    if c.form == "typed":
                        d.chef_recipe, d.recipe = parse_typed(out.text, task, profiles, d.index, c.seed)
                    elif c.form == "compact":
                        d.chef_recipe, d.recipe = compact.parse_compact(out.text, task, profiles, d.index, c.seed)
                    elif c.form == "steps":
                        d.recipe = parse_steps(out.text, task, d.index)
                    else:
                        d.recipe = parse_python(out.text, task, d.index)
                    d.error = None
                except ValueError as e:
                    d.error = str(e)
                    still.append(i)
                    # Each repair starts again from the original prompt with only the latest answer and its error:
                    # stacking every round's answer would outgrow a small model's context within a few rounds.
                    conversations[i] = base[i] + [
                        {"role": "assistant", "content": out.text[:3000]},
                        {"role": "user", "content": prompts.repair_prompt(d.error)}]
            pending = still
        return drafts
