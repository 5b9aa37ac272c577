"""The chef's prompts (our own wording). Everything the model needs is in the prompt: the task, the benchmark with a
few dev examples, each source's profile, what it may use (typed fields or the kit API), and the output contract."""
from __future__ import annotations

import json
from typing import Any

from ..spec import SourceProfile, TaskSpec

SYSTEM = ("You are DataChef, a careful data engineer. Given a target task and a pool of raw data sources, you design "
          "a data recipe: which sources to use, how many samples of each, and how to process them into chat-format "
          "training data that will make a small language model better at the task. Prefer sources that match the "
          "benchmark's problems and answer format; avoid noisy, off-topic or contaminated data.")

# Small nudges that make N samples of one prompt explore different recipes (and keep their cache keys distinct).
VARIATIONS = [
    "Focus on the single most relevant source.",
    "Combine the two or three most relevant sources.",
    "Favour answer quality and the benchmark's exact answer format.",
    "Favour diversity of problems while staying on task.",
    "Be strict: filter aggressively and deduplicate.",
    "Use as many samples as the budget allows from relevant sources.",
    "Think about which sources are noisy or off-task and leave them out.",
    "Match the benchmark's style as closely as possible.",
]


def _truncate(text: str, n: int) -> str:
    text = str(text)
    return text if len(text) <= n else text[: n - 1] + "…"


def task_section(task: TaskSpec, dev_examples: list[dict[str, Any]], n_examples: int = 2) -> str:
    b = task.benchmark
    lines = [f"# Task: {task.name}", task.instruction.strip(), "",
             f"# Benchmark: {b.name} (answer format: {b.format})", b.description.strip()]
    for ex in dev_examples[:n_examples]:
        lines.append(f"- example question: {_truncate(ex.get(b.fields.question, ''), 300)}")
        lines.append(f"  example answer: {_truncate(ex.get(b.fields.answer, ''), 300)}")
    lines.append(f"\nTraining budget: at most {task.budget.train_samples} samples.")
    return "\n".join(lines)


def chef_profiles(profiles: list[SourceProfile], *, examples: int = 1, max_value_chars: int = 160) -> str:
    """The sources as the chef reads them: id, size, description, fields with their mean length, and one example row
    with long values cut. Much shorter than `datachef inspect`'s view (three full examples per source): prompt
    prefill dominates a small local chef's time, and a 135M model does not use the extra examples anyway."""
    parts = []
    for p in profiles:
        size = f"{p.rows:,} rows" if p.rows is not None else "rows unknown"
        lines = [f"## {p.id} ({size})"]
        if p.description:
            lines.append(p.description.strip())
        lines.append("fields: " + ", ".join(
            f"{f.name} ({f.type}" + (f", ~{f.mean_len:.0f} chars" if f.type == "str" and f.mean_len is not None
                                     else "") + ")" for f in p.fields))
        for ex in p.examples[:examples]:
            short = {k: (_truncate(v, max_value_chars) if isinstance(v, str) else v) for k, v in ex.items()}
            lines.append("example: " + json.dumps(short, ensure_ascii=False, default=str)[: 3 * max_value_chars])
        parts.append("\n".join(lines))
    return "\n\n".join(parts) + ("\n" if parts else "")


def sources_section(profiles_text: str) -> str:
    return "# Sources (id, size, fields, examples)\n" + profiles_text


def typed_user_prompt(task: TaskSpec, dev: list[dict], profiles_text: str, variation: int) -> str:
    return "\n\n".join([
        task_section(task, dev), sources_section(profiles_text),
        "# Your answer\nReply with one JSON object: `workflow` (one sentence), `picks` (for each chosen source: "
        "`source`, `user_field` = the field holding the question, `assistant_field` = the field holding the full "
        "solution, `answer_field` = a field with the bare final answer or null, `sample` = how many samples, `reason`), "
        "`require_final_answer`, `quality_filter`, `dedup` (none|exact|near), `decontaminate`, `system_prompt` "
        "(or null).",
        f"Hint: {VARIATIONS[variation % len(VARIATIONS)]}",
    ])


def plan_user_prompt(task: TaskSpec, dev: list[dict], profiles_text: str, variation: int) -> str:
    """Decoupled mode, step 1: the planner writes the plan in prose."""
    return "\n\n".join([
        task_section(task, dev), sources_section(profiles_text),
        "# Your answer\nWrite the data plan in a few short lines: which sources to use, how many samples of each and "
        "why, which fields hold the question and the solution, and the processing (filtering, dedup, "
        "decontamination, format of the assistant answer).",
        f"Hint: {VARIATIONS[variation % len(VARIATIONS)]}",
    ])


def coder_user_prompt(task: TaskSpec, profiles_text: str, plan_text: str, python: bool, kit_doc: str = "") -> str:
    """Decoupled mode, step 2: the coder turns the plan into the typed recipe or a kit script."""
    what = (f"Write a Python script implementing the plan with the datachef.kit API:\n{kit_doc}\nReply with one "
            "```python code block." if python else "Turn the plan into the JSON recipe.")
    return "\n\n".join([f"# Task: {task.name}\n{task.instruction.strip()}", sources_section(profiles_text),
                        f"# Plan\n{plan_text.strip()}", f"# Your answer\n{what}"])


# One complete script in the kit's idiom: a weak model copies structure far more reliably than it follows an API
# description, and the example costs fewer tokens than the full catalogue it replaces.
PYTHON_EXAMPLE = """```python
from datachef import kit
a = kit.load("SOURCE_A", limit=1200, shuffle_seed=0)
a = kit.quality_filter(a, fields=["question", "solution"])
a = kit.to_chat(a, user="{question}", assistant="{solution}")
b = kit.load("SOURCE_B", limit=600, shuffle_seed=0)
b = kit.to_chat(b, user="{problem}", assistant="{worked_solution}\\n#### {final}")
rows = kit.mix([a, b], weights=[2, 1], total=900)
rows = kit.dedup(rows, near=True)
rows = kit.decontaminate(rows)
kit.dump(kit.shuffle(rows))
```"""


def python_user_prompt(task: TaskSpec, dev: list[dict], profiles_text: str, kit_doc: str, variation: int) -> str:
    return "\n\n".join([
        task_section(task, dev, n_examples=1), sources_section(profiles_text),
        "# Your answer\nFirst write the plan in two or three lines (which sources, how many samples, why). Then write "
        "a Python script that builds the training data with the datachef.kit API below and ends with "
        "`kit.dump(rows)`, in one ```python code block. Use only the sources and field names listed above.\n\n"
        + kit_doc + "\n\nExample script (replace the source ids and fields):\n" + PYTHON_EXAMPLE,
        f"Hint: {VARIATIONS[variation % len(VARIATIONS)]}",
    ])


def ops_doc() -> str:
    """The op catalogue as the `steps` form's prompt shows it: one line per op (how many inputs, its args with their
    defaults, the first sentence of its docstring)."""
    from ..ops.registry import op_catalogue

    lines = []
    for op in op_catalogue():
        props = op["params"].get("properties", {})
        required = set(op["params"].get("required", []))
        args = ", ".join(a if a in required else f"{a}={props[a].get('default')!r}" for a in props)
        first = (op["doc"] or "").split("\n\n")[0].replace("\n", " ").split(". ")[0].rstrip(".")
        where = {"none": "no input", "one": "input", "many": "inputs"}.get(op["inputs"], op["inputs"])
        lines.append(f"- {op['name']} ({where}; args: {args}): {first}.")
    return "\n".join(lines)


STEPS_EXAMPLE = """{"plan": {"training_data": [{"source": "SOURCE_A", "sample": 800, "reason": "..."}],
          "workflow": "..."},
 "steps": [{"id": "a", "op": "load", "args": {"source": "SOURCE_A"}},
           {"id": "good", "op": "quality_filter", "input": "a", "args": {"fields": ["question", "solution"]}},
           {"id": "chat", "op": "to_chat", "input": "good", "args": {"user": "{question}", "assistant": "{solution}"}},
           {"id": "unique", "op": "dedup_exact", "input": "chat", "args": {}},
           {"id": "clean", "op": "decontaminate", "input": "unique", "args": {}},
           {"id": "corpus", "op": "sample", "input": "clean", "args": {"n": 800, "seed": 0}}],
 "output": "corpus"}"""


def steps_user_prompt(task: TaskSpec, dev: list[dict], profiles_text: str, ops: str, variation: int) -> str:
    """The `steps` form: the whole op DAG (every op, LLM ops included), for chefs strong enough to write it."""
    return "\n\n".join([
        task_section(task, dev, n_examples=1), sources_section(profiles_text),
        "# Operators\n" + ops,
        "# Your answer\nReply with one JSON recipe: `plan` (`training_data`: per source `source`, `sample`, `reason`; "
        "`workflow`: the processing in a sentence or two), `steps` (a DAG: each step has an `id`, an `op`, `input` "
        "(one upstream step id) or `inputs` (several) unless it loads a source, and `args`), and `output` (the id "
        "of the step whose rows are the training corpus, chat records made by to_chat). Use only the sources and "
        f"field names listed above; stay within {task.budget.train_samples} records.\n\nExample (replace the "
        "source ids and fields):\n" + STEPS_EXAMPLE,
        f"Hint: {VARIATIONS[variation % len(VARIATIONS)]}",
    ])


def repair_prompt(error: str) -> str:
    """The user turn after a failed answer (which the conversation holds as the assistant turn just before)."""
    return (f"Your previous answer could not be used:\n{_truncate(error, 1500)}\n\nFix it and reply again in the "
            f"same format.")


def improve_prompt(task: TaskSpec, profiles_text: str, recipe_json: dict[str, Any], score: float,
                   histogram: dict[str, int], per_source: dict[str, float], reasons: list[str]) -> str:
    """Verifier-guided refinement: show the model its best recipe and what the verifier said about the data."""
    return "\n\n".join([
        f"# Task: {task.name}\n{task.instruction.strip()}", sources_section(profiles_text),
        "# Current best recipe\n" + json.dumps(recipe_json, indent=1),
        f"# Verifier feedback\nscore {score:.3f}; grades {json.dumps(histogram)}; mean score per source "
        f"{json.dumps({k: round(v, 2) for k, v in per_source.items()})}\nfailure reasons seen: "
        + "; ".join(_truncate(r, 120) for r in reasons[:6]),
        "# Your answer\nReply with an improved JSON recipe: drop or shrink sources that score low, grow the ones "
        "that score high, and fix the failure reasons.",
    ])
