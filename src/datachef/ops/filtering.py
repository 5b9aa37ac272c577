"""`filter`: keep rows that satisfy every given predicate; a dropped row carries the first predicate it failed."""
from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator

from .base import FilterOp, OpParams, Row
from .registry import register
from .expr import Expression

_NUMBER_IN_TEXT = re.compile(r"[-+]?\d[\d,]*(?:\.\d+)?")


class LengthRule(OpParams):
    field: str
    min: int | None = Field(None, ge=0)
    max: int | None = Field(None, ge=0)
    unit: Literal["chars", "words"] = "chars"


class RegexRule(OpParams):
    field: str
    pattern: str
    mode: Literal["keep", "drop"] = Field("keep", description="keep: row must match; drop: row must not match.")

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, v: str) -> str:
        try:
            re.compile(v)
        except re.error as e:
            raise ValueError(f"invalid regex {v!r}: {e}") from None
        return v


class KeywordRule(OpParams):
    field: str
    any: list[str] | None = Field(None, description="At least one of these must occur (case-insensitive).")
    all: list[str] | None = Field(None, description="Every one of these must occur.")
    none: list[str] | None = Field(None, description="None of these may occur.")


def _one_or_many(v):
    return [v] if isinstance(v, dict) else v


class FilterParams(OpParams):
    expr: str | None = Field(None, description="Safe Python-like expression over fields; row kept when true. "
                                                "Functions: len, min, max, abs, int, float, str, round, any, all, "
                                                "word_count, is_number, re_search(pattern, text).")
    length: list[LengthRule] | None = Field(None, description="Length bounds on fields (chars or words).")
    regex: list[RegexRule] | None = Field(None, description="Regex that must (keep) or must not (drop) match.")
    keywords: list[KeywordRule] | None = Field(None, description="Keyword any/all/none rules.")
    numeric_answer: str | None = Field(None, description="Field that must contain a number (e.g. a final answer).")

    _wrap = field_validator("length", "regex", "keywords", mode="before")(lambda cls, v: _one_or_many(v))


@register
class Filter(FilterOp):
    """Keep rows that pass every predicate given (expression, length bounds, regex, keywords, numeric answer).

    Dropped rows are kept aside with the reason (`expr`, `too_short:<field>`, `too_long:<field>`, `regex:<field>`,
    `keywords:<field>`, `no_number:<field>`). Example args: {expr: "'####' in solution", length: {field: question,
    min: 20, max: 2000}}."""

    name = "filter"
    Params = FilterParams

    def __init__(self, params, ctx, step_id):
        super().__init__(params, ctx, step_id)
        p: FilterParams = params
        self._expr = Expression(p.expr, step=step_id, op=self.name) if p.expr else None
        self._regex = [(r, re.compile(r.pattern)) for r in p.regex or []]

    def check(self) -> list[str]:
        p: FilterParams = self.params
        if not any([p.expr, p.length, p.regex, p.keywords, p.numeric_answer]):
            return ["filter needs at least one predicate (expr, length, regex, keywords or numeric_answer)"]
        return [f"length rule on '{r.field}': min {r.min} > max {r.max}" for r in p.length or []
                if r.min is not None and r.max is not None and r.min > r.max]

    def reads(self) -> set[str]:
        p: FilterParams = self.params
        fields = set(self._expr.fields) if self._expr else set()
        fields |= {r.field for r in (p.length or []) + (p.regex or []) + (p.keywords or [])}  # type: ignore[operator]
        if p.numeric_answer:
            fields.add(p.numeric_answer)
        return fields

    def reason(self, row: Row) -> str | None:
        p: FilterParams = self.params
        for rule in p.length or []:
            v = row.get(rule.field)
            text = "" if v is None else str(v)
            n = len(text.split()) if rule.unit == "words" else len(text)
            if rule.min is not None and n < rule.min:
                return f"too_short:{rule.field}"
            if rule.max is not None and n > rule.max:
                return f"too_long:{rule.field}"
        for rule, rx in self._regex:
            found = rx.search(str(row.get(rule.field) or "")) is not None
            if found != (rule.mode == "keep"):
                return f"regex:{rule.field}"
        for rule in p.keywords or []:
            text = str(row.get(rule.field) or "").lower()
            if rule.any and not any(k.lower() in text for k in rule.any):
                return f"keywords:{rule.field}"
            if rule.all and not all(k.lower() in text for k in rule.all):
                return f"keywords:{rule.field}"
            if rule.none and any(k.lower() in text for k in rule.none):
                return f"keywords:{rule.field}"
        if p.numeric_answer and not _NUMBER_IN_TEXT.search(str(row.get(p.numeric_answer) or "")):
            return f"no_number:{p.numeric_answer}"
        if self._expr is not None:
            try:
                ok = self._expr(row)
            except Exception as e:  # a bad value in one row is that row's problem, reported as its reason
                return f"expr_error:{type(e).__name__}"
            if not ok:
                return "expr"
        return None

