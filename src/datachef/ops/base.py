"""Operator base classes.

An operator is a small class: typed `Params` (a pydantic model whose field descriptions double as the docs the chef
sees), a `kind`, the fields it reads and writes, and one method to implement:

- `SourceOp.rows()`                   yields rows from a source (kind "source", no input step)
- `MapOp.map(row) -> row`             per record; raise `Drop(reason)` to drop the row with a reason
- `FilterOp.reason(row) -> str|None`  per record; a reason drops the row, None keeps it
- `GlobalOp.run(inputs, out)`         sees whole inputs (re-iterable streams): dedup, sample, mix, ...

Each base class owns its loop (`process(inputs, out)`: every row goes to `out.emit` or `out.drop`), as datatrove's
`BaseFilter.__call__` does, so the streaming engine and the in-memory kit run an op the same way; per-record ops also
offer `apply(row)` for the engine's fused chains. The engine does everything else (validation, stats, dropped-row
bookkeeping, caching, provenance).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Iterable, Iterator, Literal

from pydantic import BaseModel, ConfigDict


if TYPE_CHECKING:  # pragma: no cover
    from ..spec import TaskSpec

Row = dict[str, Any]
FieldTypes = dict[str, str]  # field name -> "str" | "int" | "float" | "bool" | "list" | "dict" | "messages" | "any"
META = "_meta"  # reserved row key holding provenance: {"source", "row", "ops"}
OpKind = Literal["source", "map", "filter", "global"]


class OpParams(BaseModel):
    """Base for operator parameters: unknown keys are errors, not silently ignored."""

    model_config = ConfigDict(extra="forbid")


class Drop(Exception):
    """Raised by `MapOp.map` to drop the current row with a reason (counted, kept in the dropped file)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass
class OpContext:
    """What operators may use besides their input: the task, sources, scratch space, seeds, services."""

    task: "TaskSpec | None" = None
    open_source: Callable[[str], Any] | None = None  # source id -> sources.Source
    benchmark_rows: Callable[[], list[Row]] | None = None  # every benchmark item (dev + held-out)
    workdir: Path = field(default_factory=lambda: Path.cwd() / ".datachef-tmp")
    seed: int = 0
    llm: Any = None  # the LLM client, once the llm layer provides one
    capabilities: set[str] = field(default_factory=set)


class RowStream:
    """A re-iterable input for global ops, with its length known up front."""

    def __init__(self, factory: Callable[[], Iterator[Row]], length: int, name: str):
        self._factory, self._length, self.name = factory, length, name

    def __iter__(self) -> Iterator[Row]:
        return self._factory()

    def __len__(self) -> int:
        return self._length


class Emitter:
    """Where a global op sends rows: `emit` keeps, `drop` removes with a reason."""

    def __init__(self, emit: Callable[[Row], None], drop: Callable[[Row, str], None]):
        self.emit, self.drop = emit, drop


class Op:
    name: ClassVar[str]
    kind: ClassVar[OpKind]
    Params: ClassVar[type[OpParams]] = OpParams
    inputs: ClassVar[Literal["none", "one", "many"]] = "one"
    requires: ClassVar[str | None] = None  # a capability the context must provide (e.g. "llm")
    version: ClassVar[int] = 1  # bump when behaviour changes, so cached outputs are not reused
    expands: ClassVar[bool] = False  # may emit several rows per input row (rows_in = out + dropped need not hold)

    def __init__(self, params: OpParams, ctx: OpContext, step_id: str):
        self.params, self.ctx, self.step_id = params, ctx, step_id
        self.input_fields: list[FieldTypes] = []
        self.warnings: list[str] = []  # surfaced in the run manifest (e.g. "asked for 500 rows, input had 300")

    # -- contracts used by validation ---------------------------------------------------------------------
    def reads(self) -> set[str]:
        """Fields this step reads from its input rows (each must exist upstream)."""
        return set()

    def writes(self) -> FieldTypes:
        """Fields this step adds or overwrites, with their types."""
        return {}

    def removes(self) -> set[str]:
        return set()

    def bind(self, input_fields: list[FieldTypes]) -> None:
        """Called once validation knows the input schemas (lets ops resolve defaults like 'all text fields')."""
        self.input_fields = input_fields

    def output_fields(self) -> FieldTypes:
        base = dict(self.input_fields[0]) if self.input_fields else {}
        for f in self.removes():
            base.pop(f, None)
        base.update(self.writes())
        return base

    def check(self) -> list[str]:
        """Extra validation beyond params typing; return problems as messages."""
        return []

    def cache_context(self) -> Any:
        """Anything besides params and inputs that changes the output (e.g. the benchmark's fingerprint)."""
        return None

    def setup(self) -> None:
        """Load heavy resources once, right before the step runs."""

    def process(self, inputs: list[RowStream], out: Emitter) -> None:  # pragma: no cover - interface
        """Send every output row to `out.emit` and every removed input row to `out.drop` (the kind's loop)."""
        raise NotImplementedError


class SourceOp(Op):
    kind = "source"
    inputs = "none"

    def rows(self, drop: Callable[[Row, str], None]) -> Iterator[Row]:  # pragma: no cover - interface
        raise NotImplementedError

    def process(self, inputs: list[RowStream], out: Emitter) -> None:
        for row in self.rows(out.drop):
            out.emit(row)


class RecordOp(Op):
    """A per-record op (map or filter): one row in, that row (or its replacement) out or dropped."""

    def apply(self, row: Row) -> Row | str:
        """The row to keep (its provenance carried over), or the reason (a str) to drop it."""
        raise NotImplementedError  # pragma: no cover - interface

    def process(self, inputs: list[RowStream], out: Emitter) -> None:
        apply, emit, drop = self.apply, out.emit, out.drop
        for row in inputs[0]:
            kept = apply(row)
            if isinstance(kept, str):
                drop(row, kept)
            else:
                emit(kept)  # type: ignore[arg-type]


class MapOp(RecordOp):
    kind = "map"

    def map(self, row: Row) -> Row:  # pragma: no cover - interface
        raise NotImplementedError

    def apply(self, row: Row) -> Row | str:
        try:
            new = self.map(row)
        except Drop as d:
            return d.reason
        new[META] = row[META]
        return new


class FilterOp(RecordOp):
    kind = "filter"

    def reason(self, row: Row) -> str | None:  # pragma: no cover - interface
        raise NotImplementedError

    def apply(self, row: Row) -> Row | str:
        reason = self.reason(row)
        return row if reason is None else reason


class GlobalOp(Op):
    kind = "global"

    def run(self, inputs: list[RowStream], out: Emitter) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    def process(self, inputs: list[RowStream], out: Emitter) -> None:
        self.run(inputs, out)


# -- shared helpers for text ops -----------------------------------------------------------------------------
TEXT_TYPES = {"str", "messages", "any"}


def resolve_text_fields(fields: list[str] | None, input_fields: list[FieldTypes]) -> list[str]:
    """`fields` if given; else every string field of the input (and `messages`), in schema order."""
    if fields:
        return list(fields)
    schema = input_fields[0] if input_fields else {}
    return [f for f, t in schema.items() if t in ("str", "messages") and f != META]


class TextFieldsMixin:
    """For ops over the text of `params.fields` (None = every text field of the input, resolved at bind time).
    List it before the op base class: `class QualityFilter(TextFieldsMixin, FilterOp)`."""

    def bind(self, input_fields: list[FieldTypes]) -> None:
        super().bind(input_fields)  # type: ignore[misc]
        self._fields = resolve_text_fields(self.params.fields, input_fields)  # type: ignore[attr-defined]

    def reads(self) -> set[str]:
        return set(self.params.fields or [])  # type: ignore[attr-defined]


def row_text(row: Row, fields: Iterable[str], sep: str = "\n") -> str:
    """The text of a row over `fields`; chat messages contribute their contents."""
    parts: list[str] = []
    for f in fields:
        v = row.get(f)
        if v is None:
            continue
        if isinstance(v, list) and v and isinstance(v[0], dict) and "content" in v[0]:
            parts.extend(str(m.get("content", "")) for m in v)
        else:
            parts.append(v if isinstance(v, str) else str(v))
    return sep.join(parts)
