"""LLM-backed operators. Declared here so recipes can name them; they need an LLM client (`requires = "llm"`), and
validation rejects a recipe that uses them when none is configured — a clear message, never a crash mid-run."""
from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from .base import FieldTypes, GlobalOp, MapOp, OpParams, Row, register
from .transform import _check_template, template_fields


class LLMMapParams(OpParams):
    prompt: str = Field(description="Prompt template over the row's fields, e.g. 'Solve step by step: {question}'.")
    into: str = Field(description="Field to write the model's (parsed) response to.")
    system: str | None = Field(None, description="Optional system prompt.")
    parse: Literal["text", "final_answer", "json"] = Field(
        "text", description="How to read the response: raw text, the text with a final '#### N' answer required, "
                            "or a JSON object.")
    max_tokens: int = Field(512, gt=0)
    temperature: float = Field(0.0, ge=0)

    _ok = field_validator("prompt", "system")(lambda cls, v: v if v is None else _check_template(v))


@register
class LLMMap(MapOp):
    """Rewrite or enrich each row with an LLM (e.g. synthesise a chain of thought, rewrite to the benchmark's format).
    Rows whose response cannot be parsed are dropped with reason `llm_parse_error`. Needs an LLM client."""

    name = "llm_map"
    Params = LLMMapParams
    requires = "llm"

    def reads(self) -> set[str]:
        return template_fields(self.params.prompt) | (template_fields(self.params.system) if self.params.system
                                                      else set())

    def writes(self) -> FieldTypes:
        return {self.params.into: "str"}

    def map(self, row: Row) -> Row:  # runs once the llm layer provides ctx.llm
        raise NotImplementedError("llm_map runs once an LLM client is configured")


class LLMGenerateParams(OpParams):
    prompt: str = Field(description="Prompt template; with an input, over its fields (e.g. QA generation from text).")
    n: int = Field(gt=0, description="How many samples to generate (per input row, when there is an input).")
    into: str = Field("text", description="Field to write each generated text to.")
    parse: Literal["text", "json"] = Field("text")
    max_tokens: int = Field(512, gt=0)
    temperature: float = Field(0.8, ge=0)
    seed: int = 0

    _ok = field_validator("prompt")(lambda cls, v: _check_template(v))


@register
class LLMGenerate(GlobalOp):
    """Generate new rows with an LLM (synthetic data): `n` samples from a prompt, or per input row. Failed or
    unparsable generations are counted, never stored as empty rows. Needs an LLM client."""

    name = "llm_generate"
    Params = LLMGenerateParams
    requires = "llm"

    def reads(self) -> set[str]:
        return template_fields(self.params.prompt)

    def writes(self) -> FieldTypes:
        return {self.params.into: "str"}

    def run(self, inputs, out) -> None:
        raise NotImplementedError("llm_generate runs once an LLM client is configured")
