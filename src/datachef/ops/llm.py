"""LLM-backed operators: `llm_map` (rewrite/enrich each row) and `llm_generate` (new rows from each input row).

They need an LLM client (`requires = "llm"`): validation rejects a recipe that uses them when the run has none — a
clear message, never a crash mid-run. Requests go out in batches through the client (which caches them, so a re-run
costs no tokens). A response that cannot be parsed drops its row with a reason and is counted; an endpoint that fails
after the client's retries fails the step. Nothing is ever filled with None.
"""
from __future__ import annotations

import copy
import json
from typing import Any, Iterator, Literal

from pydantic import Field, field_validator

from ..answers import HASH_ANSWER, normalise_number
from .base import META, Emitter, FieldTypes, GlobalOp, OpParams, Row, RowStream
from .registry import register
from .transform import _check_template, render_template, template_fields


class _LLMParams(OpParams):
    prompt: str = Field(description="User prompt template over the row's fields, e.g. 'Solve step by step: "
                                    "{question}'.")
    system: str | None = Field(None, description="Optional system prompt template.")
    into: str = Field(description="Field to write the model's (parsed) response to.")
    max_tokens: int = Field(512, gt=0)
    batch_size: int = Field(16, gt=0, description="Rows sent to the model per batch.")

    _ok = field_validator("prompt", "system")(lambda cls, v: v if v is None else _check_template(v))


def _parse(text: str, mode: str) -> tuple[Any, str | None, str | None]:
    """(value, final_answer, error reason)."""
    text = text.strip()
    if not text:
        return None, None, "llm_empty"
    if mode == "json":
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            return None, None, "llm_parse_error"
        return (value, None, None) if isinstance(value, dict) else (None, None, "llm_parse_error")
    if mode == "final_answer":
        m = list(HASH_ANSWER.finditer(text))
        answer = normalise_number(m[-1].group(1)) if m else None
        if answer is None:
            return None, None, "llm_no_final_answer"
        return text, answer, None
    return text, None, None


def _batches(rows: Iterator[Row], size: int) -> Iterator[list[Row]]:
    batch: list[Row] = []
    for r in rows:
        batch.append(r)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


class _LLMOp(GlobalOp):
    requires = "llm"

    def reads(self) -> set[str]:
        p = self.params
        return template_fields(p.prompt) | (template_fields(p.system) if p.system else set())

    def cache_context(self) -> Any:
        llm = self.ctx.llm  # a different model gives different rows: it is part of the cache key
        return {"backend": getattr(llm, "backend", None), "model": getattr(llm, "model", None)}

    def _messages(self, row: Row) -> list[dict[str, str]]:
        p = self.params
        msgs = [{"role": "system", "content": render_template(p.system, row)}] if p.system else []
        return msgs + [{"role": "user", "content": render_template(p.prompt, row)}]

    def _client(self):
        if self.ctx.llm is None:  # validation normally catches this; keep the message if called directly
            raise RuntimeError(f"op '{self.name}' needs an LLM client and the run has none")
        return self.ctx.llm


class LLMMapParams(_LLMParams):
    parse: Literal["text", "final_answer", "json"] = Field(
        "text", description="How to read the response: the text; the text, requiring a final '#### N' line "
                            "(the number goes to `answer_into`); or a JSON object.")
    answer_into: str | None = Field(None, description="With parse=final_answer: field for the extracted number.")
    temperature: float = Field(0.0, ge=0, description="0 = greedy (deterministic).")
    seed: int = 0


@register
class LLMMap(_LLMOp):
    """Rewrite or enrich each row with an LLM: e.g. synthesise a chain of thought for a question, rewrite an answer
    into the benchmark's format, translate, summarise. The response (parsed per `parse`) is written to `into`.
    Rows whose response is empty or cannot be parsed are dropped (`llm_empty`, `llm_parse_error`,
    `llm_no_final_answer`). Needs an LLM client."""

    name = "llm_map"
    version = 2  # 2: final answers normalised by datachef.answers
    Params = LLMMapParams

    def writes(self) -> FieldTypes:
        p: LLMMapParams = self.params
        out = {p.into: "dict" if p.parse == "json" else "str"}
        if p.answer_into:
            out[p.answer_into] = "str"
        return out

    def check(self) -> list[str]:
        p: LLMMapParams = self.params
        return ["answer_into needs parse: final_answer"] if p.answer_into and p.parse != "final_answer" else []

    def run(self, inputs: list[RowStream], out: Emitter) -> None:
        from ..llm.base import SamplingParams

        p: LLMMapParams = self.params
        client = self._client()
        sp = SamplingParams(max_tokens=p.max_tokens, temperature=p.temperature, seed=p.seed)
        for batch in _batches(iter(inputs[0]), p.batch_size):
            for row, c in zip(batch, client.chat_batch([self._messages(r) for r in batch], sp)):
                value, answer, err = _parse(c.text, p.parse)
                if err:
                    out.drop({**row, "_llm_response": c.text}, err)
                    continue
                new = dict(row)
                new[p.into] = value
                if p.answer_into:
                    new[p.answer_into] = answer
                out.emit(new)


class LLMGenerateParams(_LLMParams):
    n: int = Field(1, gt=0, description="Samples to generate per input row.")
    parse: Literal["text", "json"] = Field("text", description="text, or a JSON object whose keys become fields.")
    temperature: float = Field(0.8, ge=0)
    seed: int = 0


@register
class LLMGenerate(_LLMOp):
    """Generate new rows with an LLM: `n` samples per input row (e.g. question-answer pairs from a passage,
    paraphrases, new problems in the style of an example). Each sample becomes a row with the input's fields plus
    `into` (with parse=json, the object's keys become fields too); provenance points at the input row. Failed or
    unparsable samples are counted (`llm_empty`, `llm_parse_error`), never stored. An input row none of whose samples
    survive is dropped with that reason. Needs an LLM client."""

    name = "llm_generate"
    Params = LLMGenerateParams
    expands = True

    def writes(self) -> FieldTypes:
        return {self.params.into: "dict" if self.params.parse == "json" else "str"}

    def run(self, inputs: list[RowStream], out: Emitter) -> None:
        from ..llm.base import SamplingParams

        p: LLMGenerateParams = self.params
        client = self._client()
        failed: dict[str, int] = {}
        for b, batch in enumerate(_batches(iter(inputs[0]), p.batch_size)):
            for k in range(p.n):
                # A distinct, reproducible seed per (batch, sample); each row's k-th sample shares it.
                sp = SamplingParams(max_tokens=p.max_tokens, temperature=p.temperature,
                                    seed=p.seed + (b * p.n + k) * 7919)
                comps = client.chat_batch([self._messages(r) for r in batch], sp)
                for row, c in zip(batch, comps):
                    row.setdefault("_samples", []).append(c.text)
            for row in batch:
                texts = row.pop("_samples")
                kept, reasons = 0, []
                for k, text in enumerate(texts):
                    value, _, err = _parse(text, p.parse)
                    if err:
                        reasons.append(err)
                        failed[err] = failed.get(err, 0) + 1
                        continue
                    new = {key: v for key, v in row.items() if key != META}
                    new[p.into] = value
                    if isinstance(value, dict):
                        new.update({key: v for key, v in value.items() if key != META})
                    new[META] = {**copy.deepcopy(row[META]), "sample": k}
                    out.emit(new)
                    kept += 1
                if kept == 0:
                    out.drop(row, reasons[0])
        if failed:
            self.warnings.append("failed samples: " + ", ".join(f"{r}={n}" for r, n in sorted(failed.items())))
