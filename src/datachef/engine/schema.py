"""JSON Schemas for the spec files. The recipe schema is specialised from the op registry (each step's `args` typed
by its op), and optionally from a task (source ids as an enum) — what constrained decoding of recipes needs."""
from __future__ import annotations

import copy
import inspect
from typing import Any

from ..ops import REGISTRY, load_all
from ..spec import Recipe, RunManifest, TaskSpec
from ..spec.record import Record


def recipe_schema(task: TaskSpec | None = None) -> dict[str, Any]:
    load_all()
    schema = Recipe.model_json_schema()
    defs = schema.setdefault("$defs", {})
    variants = []
    for name, op in sorted(REGISTRY.items()):
        params = copy.deepcopy(op.Params.model_json_schema())
        for k, v in params.pop("$defs", {}).items():
            defs.setdefault(k, v)
        if name == "load" and task is not None:
            params["properties"]["source"] = {"enum": [s.id for s in task.sources], "type": "string",
                                              "description": "Source id from the task."}
        step: dict[str, Any] = {
            "type": "object",
            "title": f"step:{name}",
            "description": inspect.getdoc(op).split("\n\n")[0].replace("\n", " "),
            "properties": {
                "id": {"type": "string", "pattern": r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$"},
                "op": {"const": name},
                "args": params,
            },
            "required": ["id", "op", "args"],
            "additionalProperties": False,
        }
        if op.inputs == "one":
            step["properties"]["input"] = {"type": "string"}
            step["required"].append("input")
        elif op.inputs == "many":
            step["properties"]["inputs"] = {"type": "array", "items": {"type": "string"}, "minItems": 1}
            step["required"].append("inputs")
        variants.append(step)
    schema["properties"]["steps"] = {"anyOf": [{"type": "array", "items": {"oneOf": variants}}, {"type": "null"}],
                                     "description": Recipe.model_fields["steps"].description}
    defs.pop("Step", None)
    return schema


def task_schema() -> dict[str, Any]:
    return TaskSpec.model_json_schema()


SCHEMAS = {"task": task_schema, "recipe": recipe_schema, "record": Record.model_json_schema,
           "manifest": RunManifest.model_json_schema}
