"""Per-record field transforms: map (expressions), rename, select, template, extract_answer."""
from __future__ import annotations

import re
import string
from typing import Literal

from pydantic import Field, field_validator

from ..answers import normalise_number
from .base import META, Drop, FieldTypes, MapOp, OpParams, Row
from .registry import register
from .expr import Expression


class MapParams(OpParams):
    set: dict[str, str] = Field(description="New or overwritten field -> safe expression over the row's fields.")


@register
class Map(MapOp):
    """Compute fields from safe expressions, e.g. {set: {n_words: "word_count(question)", q: "question.strip()"}}.

    A row whose expression fails is dropped with reason `map_error:<field>` (never filled with None)."""

    name = "map"
    Params = MapParams

    def __init__(self, params, ctx, step_id):
        super().__init__(params, ctx, step_id)
        self._exprs = {f: Expression(src, step=step_id, op=self.name) for f, src in params.set.items()}

    def reads(self) -> set[str]:
        return set().union(*(e.fields for e in self._exprs.values())) if self._exprs else set()

    def writes(self) -> FieldTypes:
        return {f: "any" for f in self._exprs}

    def map(self, row: Row) -> Row:
        out = dict(row)
        for f, e in self._exprs.items():
            try:
                out[f] = e(row)
            except Exception:
                raise Drop(f"map_error:{f}") from None
        return out


class RenameParams(OpParams):
    mapping: dict[str, str] = Field(description="old field name -> new field name.")


@register
class Rename(MapOp):
    """Rename fields, e.g. {mapping: {problem: question, solution: answer}}."""

    name = "rename"
    Params = RenameParams

    def reads(self) -> set[str]:
        return set(self.params.mapping)

    def output_fields(self) -> FieldTypes:
        out: FieldTypes = {}
        src = self.input_fields[0] if self.input_fields else {}
        for f, t in src.items():
            out[self.params.mapping.get(f, f)] = t
        return out

    def map(self, row: Row) -> Row:
        m = self.params.mapping
        return {m.get(k, k): v for k, v in row.items()}


class SelectParams(OpParams):
    fields: list[str] = Field(min_length=1, description="Fields to keep; every other field is removed.")


@register
class Select(MapOp):
    """Keep only the listed fields (provenance is always kept)."""

    name = "select"
    Params = SelectParams

    def reads(self) -> set[str]:
        return set(self.params.fields)

    def output_fields(self) -> FieldTypes:
        src = self.input_fields[0] if self.input_fields else {}
        return {f: src.get(f, "any") for f in self.params.fields}

    def map(self, row: Row) -> Row:
        out = {f: row.get(f) for f in self.params.fields}
        out[META] = row[META]
        return out


def template_fields(template: str) -> set[str]:
    """Root field names used by a `{field}` template (format-string syntax; `{{` is a literal brace)."""
    names = set()
    for _, name, _, _ in string.Formatter().parse(template):
        if name is None:
            continue
        if not name or "." in name:  # attribute access would let an untrusted recipe walk object internals
            raise ValueError(f"placeholder {{{name}}} must name a field (optionally indexed, like {{meta[key]}})")
        names.add(name.split("[", 1)[0])
    return names


def render_template(template: str, row: Row) -> str:
    return template.format_map(row)


def _check_template(v: str) -> str:
    try:
        template_fields(v)
    except ValueError as e:
        raise ValueError(f"invalid template {v!r}: {e}") from None
    return v


class TemplateParams(OpParams):
    field: str = Field(description="Field to write.")
    template: str = Field(description="Text with {field} placeholders (Python format syntax; {{ for a brace).")

    _ok = field_validator("template")(lambda cls, v: _check_template(v))


@register
class Template(MapOp):
    """Build a text field from a template, e.g. {field: prompt, template: "Question: {question}\\nAnswer:"}."""

    name = "template"
    Params = TemplateParams

    def reads(self) -> set[str]:
        return template_fields(self.params.template)

    def writes(self) -> FieldTypes:
        return {self.params.field: "str"}

    def map(self, row: Row) -> Row:
        out = dict(row)
        try:
            out[self.params.field] = render_template(self.params.template, row)
        except (KeyError, IndexError, ValueError):
            raise Drop(f"template_error:{self.params.field}") from None
        return out


_CALC_ANNOTATION = re.compile(r"<<[^>]*>>")  # GSM8K calculator traces: "3*4=<<3*4=12>>12"


class ExtractAnswerParams(OpParams):
    field: str = Field("answer", description="Field holding the solution text.")
    pattern: str = Field(r"####\s*(.+?)\s*$", description="Regex whose first group is the final answer.")
    into: str = Field("final_answer", description="Field to write the extracted answer to.")
    rationale_into: str | None = Field(
        None, description="If set, write the text before the match here (GSM8K <<calc>> annotations removed).")
    numeric: bool = Field(True, description="Normalise the answer to a plain number (drop $ , and trailing .0).")
    on_missing: Literal["drop", "keep"] = Field("drop", description="Row without an answer: drop it, or keep it "
                                                                    "with the field absent.")

    @field_validator("pattern")
    @classmethod
    def _one_group(cls, v: str) -> str:
        try:
            rx = re.compile(v, re.MULTILINE)
        except re.error as e:
            raise ValueError(f"invalid regex {v!r}: {e}") from None
        if rx.groups < 1:
            raise ValueError("pattern needs a capturing group around the answer")
        return v


@register
class ExtractAnswer(MapOp):
    """Extract a final answer from a solution, e.g. GSM8K's `#### 42`, into its own field (and optionally the
    reasoning before it). Rows with no answer are dropped with reason `no_answer` (or kept, if on_missing=keep)."""

    name = "extract_answer"
    version = 2  # 2: numbers normalised by datachef.answers ('3/4' stays 3/4; LaTeX is no plain number)
    Params = ExtractAnswerParams

    def __init__(self, params, ctx, step_id):
        super().__init__(params, ctx, step_id)
        self._rx = re.compile(params.pattern, re.MULTILINE)

    def reads(self) -> set[str]:
        return {self.params.field}

    def writes(self) -> FieldTypes:
        out = {self.params.into: "str"}
        if self.params.rationale_into:
            out[self.params.rationale_into] = "str"
        return out

    def map(self, row: Row) -> Row:
        p: ExtractAnswerParams = self.params
        text = str(row.get(p.field) or "")
        matches = list(self._rx.finditer(text))
        answer = matches[-1].group(1).strip() if matches else None
        if answer is not None and p.numeric:
            answer = normalise_number(answer)
        if answer is None:
            if p.on_missing == "drop":
                raise Drop("no_answer")
            return dict(row)
        out = dict(row)
        out[p.into] = answer
        if p.rationale_into:
            out[p.rationale_into] = _CALC_ANNOTATION.sub("", text[:matches[-1].start()]).strip()
        return out
