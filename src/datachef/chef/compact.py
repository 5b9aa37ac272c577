"""The compact recipe form, the one the RL policy learns (`datachef rl`; `--mode compact` in cook and chef-eval): a
short prompt (the task and one card per source, about 800 tokens at most) and a short answer (numbered source
options, sample sizes and processing switches, about 50 tokens) that compiles to the chef's typed recipe.

Why not the chef's own prompt and JSON? On 2 CPU cores one GRPO step with ~2,000-token prompts and ~300-token
typed recipes took ~600 s; generation and the policy's forward/backward passes scale with both lengths, and the
prose (workflow, reasons) carries no reward. The compact answer keeps every decision the reward sees:

    {"use": [{"o": 0, "n": 1500}, {"o": 4, "n": 300}], "final": true, "quality": true, "dedup": "near",
     "decon": true}

`o` numbers an option of the cards (a source with one of its plausible user/assistant field pairs, and optionally
its '#### answer' field), `n` the samples drawn from it. `compact_schema` constrains it for decoding;
`parse_compact` turns any text into (ChefRecipe, Recipe) or a ValueError saying what is wrong.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Callable

from pydantic import BaseModel, Field

from ..llm.base import SEPARATORS_KEY
from ..sources.profile import answer_fields, field_pairs
from ..spec import Recipe, SourceProfile, TaskSpec
from .answer import json_answer, model_from_json, validated
from .typed import ChefRecipe, SourcePick, compile_chef_recipe

MAX_PICKS = 4
ANSWER_TOKENS = 120  # the answer is ~50 tokens; room for a model that rambles a little
SYSTEM = "You are DataChef. Choose training data for the task: answer with the JSON recipe only."


def messages(prompt: str, answer: str | None = None) -> list[dict[str, str]]:
    """The chat of a compact prompt (and its answer, for a demonstration): system, user, [assistant]."""
    out = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": prompt}]
    if answer is not None:
        out.append({"role": "assistant", "content": answer})
    return out


@dataclass(frozen=True)
class Option:
    """One way to use a source: which field is the question, which the reply, and which (if any) is appended as the
    reply's '#### answer' line."""

    source: str
    user: str
    assistant: str
    answer: str | None = None

    def label(self) -> str:
        return f"{self.user} -> {self.assistant}" + (f" + '#### {{{self.answer}}}'" if self.answer else "")


def options(profiles: list[SourceProfile]) -> list[Option]:
    """The numbered options over all sources, in card order (the chef's typed schema offers the same choices)."""
    out = []
    for p in profiles:
        for user, assistant in field_pairs(p):
            out.append(Option(p.id, user, assistant))
            out.extend(Option(p.id, user, assistant, a) for a in answer_fields(p, user, assistant)[:1])
    return out


def _cut(value: Any, n: int) -> str:
    text = " ".join(str(value).split())
    return text if len(text) <= n else text[: n - 1] + "…"


# Card detail levels, tried in turn until the prompt fits: (example value chars, description chars); None = left out.
CARD_LEVELS: list[tuple[int | None, int | None]] = [(50, 80), (30, 60), (None, 60), (None, None)]
MAX_PROMPT_TOKENS = 800


def estimate_tokens(text: str) -> int:
    """A tokenizer-free estimate of SmolLM2 tokens, fitted on the pool's prompts at every card level (within ~12%):
    about 3.8 characters per token of text, 1.7 per digit (numbers split), 1.9 per non-ASCII character (CJK).
    Where a tokenizer is loaded, pass its count to `compact_prompt` instead."""
    digits = sum(c.isdigit() for c in text)
    wide = sum(ord(c) > 127 for c in text)
    return int(0.266 * (len(text) - digits - wide) + 1.7 * digits + 1.92 * wide) + 1


def compact_prompt(task: TaskSpec, profiles: list[SourceProfile], dev: list[dict[str, Any]], *,
                   max_tokens: int = MAX_PROMPT_TOKENS, count: Callable[[str], int] = estimate_tokens) -> str:
    """The policy's prompt: the task, one dev example, one card per source (size, description, an example, its
    numbered options), and the answer contract; cards lose their example, then their description, until the
    prompt fits `max_tokens` (as `count` measures; the options are never cut)."""
    text = ""
    for values, descriptions in CARD_LEVELS:
        text = _prompt(task, profiles, dev, values, descriptions)
        if count(text) <= max_tokens:
            break
    return text


def _prompt(task: TaskSpec, profiles: list[SourceProfile], dev: list[dict[str, Any]], value_chars: int | None,
            description_chars: int | None) -> str:
    b = task.benchmark
    lines = [f"Task: {_cut(task.instruction, 220)}",
             f"Benchmark: {b.name} ({b.format} answers)."]
    if dev and value_chars is not None:
        lines.append(f"Example: Q: {_cut(dev[0].get(b.fields.question, ''), 2 * value_chars)} "
                     f"A: {_cut(dev[0].get(b.fields.answer, ''), value_chars)}")
    lines.append(f"Budget: {task.budget.train_samples} training samples.\n\nSources:")
    numbered = options(profiles)
    for p in profiles:
        size = f"{p.rows:,} rows" if p.rows is not None else "size unknown"
        about = f" {_cut(p.description, description_chars)}" if description_chars and p.description else ""
        lines.append(f"[{p.id}] {size}.{about}")
        used = {o.user for o in numbered if o.source == p.id} | {o.assistant for o in numbered if o.source == p.id}
        if p.examples and value_chars is not None:
            ex = p.examples[0]
            lines.append("  e.g. " + " | ".join(f"{k}: {_cut(ex[k], value_chars)}" for k in ex if k in used))
        lines.append("  options: " + "; ".join(f"{k} = {o.label()}" for k, o in enumerate(numbered)
                                               if o.source == p.id))
    lines += ["", 'Answer with JSON only: {"use": [{"o": option, "n": samples}, ...] (1 to 4 options), "final": '
              'keep only replies ending in "#### <number>", "quality": drop low-quality rows, "dedup": '
              '"none"|"exact"|"near", "decon": remove benchmark leaks}.']
    return "\n".join(lines)


class _Use(BaseModel):
    o: int = Field(ge=0)
    n: int = Field(ge=1)


class CompactAnswer(BaseModel):
    use: list[_Use] = Field(min_length=1, max_length=MAX_PICKS)
    final: bool = False
    quality: bool = True
    dedup: str = "near"
    decon: bool = True


def compact_schema(task: TaskSpec, profiles: list[SourceProfile]) -> dict[str, Any]:
    """JSON Schema of the compact answer for this task (option numbers and sizes bounded), for constrained
    decoding; like the typed schema, `final` is offered only for numeric benchmarks."""
    budget = task.budget.train_samples
    return {
        "type": "object",
        "properties": {
            "use": {"type": "array", "minItems": 1, "maxItems": MAX_PICKS, "items": {
                "type": "object",
                "properties": {"o": {"enum": list(range(len(options(profiles))))},
                               "n": {"type": "integer", "minimum": max(1, budget // 20), "maximum": budget}},
                "required": ["o", "n"], "additionalProperties": False}},
            "final": {"type": "boolean"} if task.benchmark.format == "numeric" else {"const": False},
            "quality": {"type": "boolean"},
            "dedup": {"enum": ["none", "exact", "near"]},
            "decon": {"type": "boolean"},
        },
        "required": ["use", "final", "quality", "dedup", "decon"],
        "additionalProperties": False,
        # The grammar writes the answer as `from_chef_recipe` (the demonstrations) does, without spaces: under
        # xgrammar's default ", " / ": " a trained policy decoded an unseen text and picked other options.
        SEPARATORS_KEY: [",", ":"],
    }


def to_chef_recipe(answer: CompactAnswer, task: TaskSpec, profiles: list[SourceProfile]) -> ChefRecipe:
    numbered = options(profiles)
    picks = []
    for u in answer.use:
        if u.o >= len(numbered):
            raise ValueError(f"option {u.o} does not exist (options 0-{len(numbered) - 1})")
        o = numbered[u.o]
        picks.append(SourcePick(source=o.source, user_field=o.user, assistant_field=o.assistant,
                                answer_field=o.answer, sample=u.n))
    if answer.dedup not in ("none", "exact", "near"):
        raise ValueError(f"dedup must be none, exact or near, not {answer.dedup!r}")
    if answer.final and task.benchmark.format != "numeric":
        raise ValueError("final answers ('#### <number>') only apply to numeric benchmarks")
    return ChefRecipe(picks=picks, require_final_answer=answer.final, quality_filter=answer.quality,
                      dedup=answer.dedup, decontaminate=answer.decon, system_prompt=None)  # type: ignore[arg-type]


def from_chef_recipe(chef: ChefRecipe, profiles: list[SourceProfile]) -> str:
    """The compact answer of a typed recipe (a demonstration's target text); ValueError if a pick is no option."""
    index = {o: k for k, o in enumerate(options(profiles))}
    use = []
    for p in chef.picks:
        key = Option(p.source, p.user_field, p.assistant_field, p.answer_field)
        if key not in index:
            raise ValueError(f"source '{p.source}' with {key.label()} is not one of the options")
        use.append({"o": index[key], "n": p.sample})
    return json.dumps({"use": use, "final": chef.require_final_answer, "quality": chef.quality_filter,
                       "dedup": chef.dedup, "decon": chef.decontaminate}, separators=(",", ":"))


def parse_compact(text: str, task: TaskSpec, profiles: list[SourceProfile], index: int,
                  seed: int) -> tuple[ChefRecipe, Recipe]:
    """Compact answer text → ChefRecipe → compiled Recipe, validated by the engine. Raises ValueError with a
    readable reason (what the reward calls a format violation)."""
    chef = to_chef_recipe(model_from_json(CompactAnswer, json_answer(text), "answer"), task, profiles)
    return chef, validated(compile_chef_recipe(chef, task, name=f"policy-{index}", seed=seed), task)
