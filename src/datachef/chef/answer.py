"""Reading a chef model's answer: the JSON object in its text, that JSON as a pydantic model, and the engine's check
that a compiled recipe runs for the task. ValueErrors with readable reasons (what a repair prompt shows and the RL
reward calls a format violation)."""
from __future__ import annotations

import json
import re
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from ..engine import build_context, compile_recipe
from ..errors import DatachefError
from ..spec import Recipe, TaskSpec

M = TypeVar("M", bound=BaseModel)


def json_answer(text: str) -> Any:
    """The JSON object in a model's answer (from the first '{' to the last '}'). Raises ValueError with a readable
    reason."""
    m = re.search(r"\{.*\}", text, re.DOTALL)
    if not m:
        raise ValueError("the answer contains no JSON object")
    try:
        return json.loads(m.group(0), strict=False)
    except json.JSONDecodeError as e:
        raise ValueError(f"the JSON does not parse: {e}") from None


def model_from_json(model: type[M], data: Any, what: str) -> M:
    """`model` from a parsed JSON answer; ValueError naming the first problems (what a repair prompt shows)."""
    try:
        return model.model_validate(data)
    except ValidationError as e:
        raise ValueError(f"the JSON does not match the {what} structure: " + "; ".join(
            f"{'.'.join(map(str, err['loc']))}: {err['msg']}" for err in e.errors()[:6])) from None


def validated(recipe: Recipe, task: TaskSpec) -> Recipe:
    """`recipe` once the engine compiles it for `task`; ValueError with the engine's message otherwise."""
    try:
        compile_recipe(recipe, build_context(task))
    except DatachefError as e:
        raise ValueError(str(e)) from None
    return recipe
