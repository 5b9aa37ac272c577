"""Recipe contract: a natural-language plan plus a program (typed steps, or a Python script)."""
from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ..hashing import content_hash
from .task import ID_PATTERN


class PlanItem(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: str = Field(description="Source id from the task.")
    split: str | None = None
    sample: int | None = Field(None, ge=0, description="How many samples to draw from it.")
    reason: str = Field("", description="Why this source helps the task.")


class Plan(BaseModel):
    model_config = ConfigDict(extra="forbid")

    training_data: list[PlanItem] = Field(default_factory=list)
    workflow: str = Field("", description="The processing workflow, in words.")


class Step(BaseModel):
    """One node of the program DAG. `input` names one upstream step; `inputs` several (mix, concat)."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=ID_PATTERN)
    op: str
    input: str | None = None
    inputs: list[str] | None = None
    args: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _one_input_form(self) -> "Step":
        if self.input is not None and self.inputs is not None:
            raise ValueError(f"step '{self.id}': give either 'input' or 'inputs', not both")
        return self

    @property
    def upstream(self) -> list[str]:
        if self.inputs is not None:
            return list(self.inputs)
        return [self.input] if self.input is not None else []


class Recipe(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = ""
    task: str | None = Field(None, description="Name of the task the recipe was written for.")
    plan: Plan = Field(default_factory=Plan)
    steps: list[Step] | None = Field(None, description="Typed program: a DAG of operator steps.")
    output: str | None = Field(None, description="Id of the step whose rows become the corpus (default: last step).")
    python: str | None = Field(None, description="Python program using datachef.kit (run in the sandbox).")

    @model_validator(mode="after")
    def _one_program(self) -> "Recipe":
        if (self.steps is None) == (self.python is None):
            raise ValueError("a recipe needs exactly one program: 'steps' (typed) or 'python'")
        if self.steps is not None:
            if not self.steps:
                raise ValueError("'steps' is empty")
            if self.output is None:
                self.output = self.steps[-1].id
        return self

    def content_hash(self) -> str:
        """Hash of what the recipe does (program and plan), independent of key order and formatting."""
        body = self.model_dump(mode="json", exclude={"name"})
        return content_hash(body)
