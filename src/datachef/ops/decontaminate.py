"""`decontaminate`: drop training rows that reproduce a held-out benchmark item (the rule: `contamination`)."""
from __future__ import annotations

from typing import Any

from pydantic import Field

from ..errors import ExecutionError
from .base import TextFieldsMixin, FilterOp, OpParams, Row, resolve_text_fields
from .contamination import BenchmarkIndex, ContaminationRule, Leak
from .registry import register


class DecontaminateParams(OpParams, ContaminationRule):
    fields: list[str] | None = Field(None, description="Fields whose text is checked (default: all text fields, "
                                                       "including messages contents).")


def row_pieces(row: Row, fields: list[str]) -> list[str]:
    """Each field value (and each chat message content) as its own text: a short benchmark question is matched
    against whole pieces."""
    out: list[str] = []
    for f in fields:
        v = row.get(f)
        if v is None:
            continue
        if isinstance(v, list) and v and isinstance(v[0], dict) and "content" in v[0]:
            out.extend(str(m.get("content", "")) for m in v)
        elif isinstance(v, list):
            out.extend(str(x) for x in v)
        else:
            out.append(v if isinstance(v, str) else str(v))
    return out


@register
class Decontaminate(TextFieldsMixin, FilterOp):
    """Remove rows that reproduce a held-out benchmark item, so no evaluated item leaks into training data.
    Reason `benchmark_overlap`.

    A row reproduces an item when the word `ngram`-grams (8; case and punctuation ignored) it shares with the item
    cover at least `min_item_overlap` (0.7) of the item's question or answer, numbers included, counting only
    n-grams found in at most `max_item_frequency` (2) benchmark items, and only items whose question or answer has
    `min_distinctive_words` (16) such words (answers not at all when the benchmark's own items share them); or when
    a field or line is a short item's whole question (one non-number word may differ). Template wording shared by
    many items never counts, so same-style data with other numbers is kept. Dev items are allowed unless
    `include_dev`. Use it on every recipe whose sources might hold benchmark material (public QA sets, web scrapes,
    data seeded from the benchmark)."""

    name = "decontaminate"
    Params = DecontaminateParams
    # 2: per-item rule; 3: CJK characters as words; 4: weak parts identify no item (contamination.RULE_VERSION, also
    # in the cache context)
    version = 4

    def __init__(self, params, ctx, step_id):
        super().__init__(params, ctx, step_id)
        self._index: BenchmarkIndex | None = None

    @property
    def index(self) -> BenchmarkIndex:
        """The benchmark's index, built on first use from the run's benchmark items."""
        if self._index is None:
            if self.ctx.benchmark_rows is None:
                raise ExecutionError("decontaminate needs the task's benchmark, but this run has none "
                                     "(run the recipe with a task)", step=self.step_id, op=self.name)
            items = self.ctx.benchmark_rows()
            if not items:
                raise ExecutionError("the benchmark has no items: nothing to decontaminate against",
                                     step=self.step_id, op=self.name)
            task = self.ctx.task
            question = task.benchmark.fields.question if task is not None else "question"
            if not any(item.get(question) not in (None, "") for item in items):
                raise ExecutionError(f"no benchmark item has the question field '{question}'", step=self.step_id,
                                     op=self.name, field=question)
            rule = ContaminationRule(**self.params.model_dump(include=set(ContaminationRule.model_fields)))
            index = BenchmarkIndex.for_task(task, items, rule) if task is not None else BenchmarkIndex(items,
                                                                                                     rule=rule)
            if index.indexed == 0:
                raise ExecutionError(f"all {index.size} benchmark items are dev items: nothing is held out to "
                                     f"decontaminate against (set include_dev to check them)", step=self.step_id,
                                     op=self.name)
            self._index = index
        return self._index

    def cache_context(self) -> Any:
        """The rule version, the dev split and the benchmark's content, so a changed rule, benchmark or split never
        reuses a cached output."""
        return {"benchmark": self.index.fingerprint}

    def setup(self) -> None:
        if not hasattr(self, "_fields"):  # constructed without validation (no bind)
            self._fields = resolve_text_fields(self.params.fields, self.input_fields)
        _ = self.index  # built, and its errors raised, before the first row

    def leak(self, row: Row) -> Leak | None:
        """Which benchmark item the row reproduces, and how (None: clean)."""
        return self.index.match(row_pieces(row, self._fields))

    def reason(self, row: Row) -> str | None:
        return None if self.leak(row) is None else "benchmark_overlap"
