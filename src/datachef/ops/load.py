"""`load`: the only way rows enter a recipe."""
from __future__ import annotations

import random
from typing import Callable, Iterator, Literal

from pydantic import Field

from ..errors import DatachefError
from .base import META, FieldTypes, OpParams, Row, SourceOp
from .registry import register


class LoadParams(OpParams):
    source: str = Field(description="Source id from the task.")
    split: str | None = Field(None, description="Split to read (HF datasets); default: the source's own split.")
    limit: int | None = Field(None, gt=0, description="Read at most this many rows.")
    shuffle_seed: int | None = Field(
        None, description="If set, take a seeded random subset of `limit` rows (reservoir sampling) instead of the "
                          "first ones.")
    on_malformed: Literal["fail", "skip"] = Field(
        "fail", description="Malformed input line: fail with its line number, or skip it and count it.")


@register
class Load(SourceOp):
    """Read rows from one of the task's sources. Every row gets provenance (source id, row index).

    Use `limit` to cap how much is read and `shuffle_seed` to make the cap a random subset rather than the head of the
    source. Fields are the source's own (see its profile)."""

    name = "load"
    Params = LoadParams

    def _source(self):
        if self.ctx.open_source is None:
            raise DatachefError("no sources are available in this context", step=self.step_id, op=self.name)
        return self.ctx.open_source(self.params.source)

    def output_fields(self) -> FieldTypes:
        return dict(self._source().fields(self.params.split))

    def cache_context(self) -> str:
        return self._source().fingerprint()

    def rows(self, drop: Callable[[Row, str], None]) -> Iterator[Row]:
        p = self.params
        src = self._source()

        def on_skip(line_no: int, raw: str, message: str) -> None:
            drop({"line": line_no, "raw": raw, "error": message, META: {"source": p.source, "row": -1, "ops": []}},
                 "malformed_line")

        raw = src.iter_rows(split=p.split, limit=None if p.shuffle_seed is not None else p.limit,
                            on_malformed=p.on_malformed, on_skip=on_skip)
        indexed: Iterator[tuple[int, Row]] = enumerate(raw)
        if p.shuffle_seed is not None and p.limit is not None:
            indexed = iter(_reservoir(indexed, p.limit, p.shuffle_seed))
        for i, row in indexed:
            row = dict(row)
            row[META] = {"source": p.source, "row": i, "ops": []}
            yield row


def _reservoir(items: Iterator[tuple[int, Row]], k: int, seed: int) -> list[tuple[int, Row]]:
    """Uniform sample of k items in one pass; returned in source order so output is stable and readable."""
    rng = random.Random(seed)
    sample: list[tuple[int, Row]] = []
    for n, item in enumerate(items):
        if n < k:
            sample.append(item)
        else:
            j = rng.randrange(n + 1)
            if j < k:
                sample[j] = item
    sample.sort(key=lambda t: t[0])
    return sample
