"""The chef's typed recipe: a small, task-specialised structure an LLM can fill under constrained decoding, compiled
into a full `steps` program for the engine.

Why not ask the model for the whole steps DAG? A weak model under a schema of every op's args still writes programs
that name fields that do not exist or chain steps wrongly. Here the schema itself is generated from the task:
source ids are an enum, and for each source its own field names are enums, so anything the decoder can emit compiles
and validates. The compiled program uses the same ops a human would (load → quality → answer formatting → to_chat →
mix → dedup → decontaminate → shuffle), so executability is a property of the schema, not of the model's luck.
"""
from __future__ import annotations

import keyword
from typing import Any, Literal

from pydantic import BaseModel, Field

from ..sources.profile import answer_fields, field_pairs
from ..spec import Plan, PlanItem, Recipe, SourceProfile, Step, TaskSpec

class SourcePick(BaseModel):
    source: str = Field(description="Source id.")
    user_field: str = Field(description="Field that becomes the user turn (the question/prompt).")
    assistant_field: str = Field(description="Field that becomes the assistant turn (the solution/response).")
    answer_field: str | None = Field(
        None, description="Optional field with the bare final answer; appended as a final '#### <answer>' line.")
    sample: int = Field(ge=1, description="How many training samples to draw from this source.")
    reason: str = Field("", description="Why this source helps the task (one sentence).")


class ChefRecipe(BaseModel):
    workflow: str = Field("", description="The processing workflow, in one or two sentences.")
    picks: list[SourcePick] = Field(min_length=1, description="The sources to use and how many samples of each.")
    require_final_answer: bool = Field(
        False, description="Keep only rows whose assistant turn ends with a '#### <number>' final answer.")
    quality_filter: bool = Field(True, description="Drop low-quality rows (repetition, symbol soup, too short).")
    dedup: Literal["none", "exact", "near"] = Field("near", description="Duplicate removal.")
    decontaminate: bool = Field(True, description="Remove rows reproducing a held-out benchmark item (always "
                                                  "recommended).")
    system_prompt: str | None = Field(None, description="Optional system turn for every example.")


def chef_schema(task: TaskSpec, profiles: list[SourceProfile], *, max_picks: int = 4,
                free_system_prompt: bool = False) -> dict[str, Any]:
    """JSON Schema for ChefRecipe specialised to this task: one pick variant per source and plausible field pair,
    with the source id and its own field names as constants, so every emitted recipe compiles. Sizes are bounded so
    a small model under constrained decoding stays short (every generated token is decoding time).

    The system prompt is the task's instruction or none unless `free_system_prompt`: a weak model's free text there
    (seen: a run of numbers after an unrelated question) would be copied into every training example."""
    budget = task.budget.train_samples
    variants = []
    for p in profiles:
        for user, assistant in field_pairs(p):
            others = answer_fields(p, user, assistant)
            variants.append({
                "type": "object",
                "properties": {
                    "source": {"const": p.id},
                    "user_field": {"const": user},
                    "assistant_field": {"const": assistant},
                    "answer_field": {"anyOf": [{"type": "null"}, {"enum": others}]} if others else {"type": "null"},
                    # A floor keeps a weak model from proposing corpora too small to train on.
                    "sample": {"type": "integer", "minimum": max(1, budget // 20), "maximum": budget},
                    "reason": {"type": "string", "maxLength": 120},
                },
                "required": ["source", "user_field", "assistant_field", "answer_field", "sample", "reason"],
                "additionalProperties": False,
            })
    return {
        "type": "object",
        "properties": {
            "workflow": {"type": "string", "maxLength": 200},
            "picks": {"type": "array", "items": {"anyOf": variants}, "minItems": 1, "maxItems": max_picks},
            # '#### <number>' lines only make sense for numeric answers: elsewhere the switch would empty the corpus.
            "require_final_answer": ({"type": "boolean"} if task.benchmark.format == "numeric"
                                     else {"const": False}),
            "quality_filter": {"type": "boolean"},
            "dedup": {"enum": ["none", "exact", "near"]},
            "decontaminate": {"type": "boolean"},
            "system_prompt": ({"anyOf": [{"type": "string", "maxLength": 200}, {"type": "null"}]}
                              if free_system_prompt else {"enum": [None, task.instruction.strip()]}),
        },
        "required": ["workflow", "picks", "require_final_answer", "quality_filter", "dedup", "decontaminate",
                     "system_prompt"],
        "additionalProperties": False,
    }


def _esc(field: str) -> str:
    return "{" + field + "}"


# A reply that is nothing but a number (the whole assistant turn of an arithmetic drill or a puzzle's target).
_NUMBER_ONLY = r"^\s*-?\$?[0-9][0-9,]*(\.[0-9]+)?\s*$"


def merge_picks(picks: list[SourcePick]) -> list[SourcePick]:
    """One pick per source: a source picked twice would load the same shuffled rows twice (duplicates), so later
    picks of a source add their sample count to the first one (whose field choice is kept)."""
    merged: dict[str, SourcePick] = {}
    for pick in picks:
        if pick.source in merged:
            first = merged[pick.source]
            merged[pick.source] = first.model_copy(update={"sample": first.sample + pick.sample})
        else:
            merged[pick.source] = pick
    return list(merged.values())


def compile_chef_recipe(chef: ChefRecipe, task: TaskSpec, *, name: str = "chef", seed: int = 0,
                        oversample: float = 2.0) -> Recipe:
    """Turn a ChefRecipe into a typed `steps` Recipe (what the engine validates and runs)."""
    steps: list[Step] = []
    chats: list[str] = []
    weights: list[float] = []
    picks = merge_picks(chef.picks)
    for i, pick in enumerate(picks):
        sid = f"{i}_{pick.source}"
        cur = f"load_{sid}"
        steps.append(Step(id=cur, op="load", args={"source": pick.source, "limit": int(pick.sample * oversample) + 10,
                                                   "shuffle_seed": seed}))
        text_fields = [pick.user_field, pick.assistant_field]
        if chef.quality_filter:
            steps.append(Step(id=f"quality_{sid}", op="quality_filter", input=cur,
                              args={"fields": sorted(set(text_fields))}))
            cur = f"quality_{sid}"
        assistant = _esc(pick.assistant_field)
        a, ans = pick.assistant_field, pick.answer_field if pick.answer_field != pick.assistant_field else None
        safe = all(f.isidentifier() and not keyword.iskeyword(f) for f in (a, ans) if f)
        if safe and (ans or chef.require_final_answer):
            reply = f"str({a})"
            if ans:  # append the final line only to replies that lack one: two '####' lines are a format error
                otherwise = f"{reply}.rstrip() + '\\n#### ' + str({ans})"
            else:
                # A bare numeric reply (a drill's answer) becomes the '#### N' line that require_final_answer asks
                # for, rather than being dropped by it (which emptied whole sources of short-answer puzzles).
                otherwise = f"('#### ' + {reply}.strip()) if re_search({_NUMBER_ONLY!r}, {reply}) else {reply}"
            steps.append(Step(id=f"answer_{sid}", op="map", input=cur, args={"set": {"chef_response": (
                rf"{reply} if re_search(r'(?m)^\s*####', {reply}) else {otherwise}")}}))
            cur = f"answer_{sid}"
            assistant = "{chef_response}"
        elif ans:  # not expressible as a safe expression: append unconditionally
            assistant += "\n#### " + _esc(ans)
        steps.append(Step(id=f"chat_{sid}", op="to_chat", input=cur,
                          args={"user": _esc(pick.user_field), "assistant": assistant,
                                **({"system": chef.system_prompt.replace("{", "{{").replace("}", "}}")}
                                   if chef.system_prompt else {})}))
        cur = f"chat_{sid}"
        if chef.require_final_answer:
            steps.append(Step(id=f"final_{sid}", op="filter", input=cur,
                              args={"expr": r"re_search('####\\s*-?\\$?[0-9][0-9,]*(\\.[0-9]+)?\\s*$', "
                                            r"messages[-1]['content'])"}))
            cur = f"final_{sid}"
        chats.append(cur)
        weights.append(float(pick.sample))
    total = min(sum(p.sample for p in picks), task.budget.train_samples)
    if len(chats) > 1:
        steps.append(Step(id="mix", op="mix", inputs=chats, args={"weights": weights, "total": total, "seed": seed}))
    else:
        steps.append(Step(id="mix", op="sample", input=chats[0], args={"n": total, "seed": seed}))
    cur = "mix"
    if chef.dedup in ("exact", "near"):
        steps.append(Step(id="dedup_exact", op="dedup_exact", input=cur, args={}))
        cur = "dedup_exact"
    if chef.dedup == "near":
        steps.append(Step(id="dedup_near", op="dedup_near", input=cur, args={}))
        cur = "dedup_near"
    if chef.decontaminate:
        steps.append(Step(id="decontaminate", op="decontaminate", input=cur, args={}))
        cur = "decontaminate"
    steps.append(Step(id="shuffle", op="shuffle", input=cur, args={"seed": seed}))
    plan = Plan(training_data=[PlanItem(source=p.source, sample=p.sample, reason=p.reason) for p in picks],
                workflow=chef.workflow)
    return Recipe(name=name, task=task.name, plan=plan, steps=steps, output="shuffle")
