"""One op run as a step: the op's own loop (`Op.process`) plus the step's bookkeeping — rows in and out, drops by
reason, warnings, and provenance (the step id appended to every kept row). The streaming executor runs the head of
each stage this way and the in-memory kit runs every call this way, so both count and trace rows identically."""
from __future__ import annotations

from typing import Callable, Iterable

from ..errors import ExecutionError
from ..ops import META, Emitter, Op, Row, RowStream, SourceOp
from ..spec import StepStats

DropSink = Callable[[str, Row, str], None]  # (step id, row, reason)


class StepOutput(Emitter):
    """Where a step sends its rows: kept rows are counted, stamped with the step id and passed to `keep`; dropped
    rows are counted by reason and passed to `drop`."""

    def __init__(self, step_id: str, stats: StepStats, keep: Callable[[Row], None], drop: DropSink):
        self.step_id, self.stats, self._keep, self._drop = step_id, stats, keep, drop

    def emit(self, row: Row) -> None:  # type: ignore[override]
        self.stats.rows_out += 1
        row[META]["ops"].append(self.step_id)
        self._keep(row)

    def drop(self, row: Row, reason: str) -> None:  # type: ignore[override]
        d = self.stats.dropped
        d[reason] = d.get(reason, 0) + 1
        self._drop(self.step_id, row, reason)


def run_step(op: Op, inputs: list[RowStream], out: StepOutput) -> None:
    """Set `op` up and run it over `inputs` into `out`. Every input row must come out kept or dropped exactly once
    (unless the op `expands`); a source's rows in are what it produced."""
    stats = out.stats
    op.setup()
    stats.rows_in = sum(len(s) for s in inputs)
    op.process(inputs, out)
    handled = stats.rows_out + sum(stats.dropped.values())
    if isinstance(op, SourceOp):
        stats.rows_in = handled
    elif handled != stats.rows_in and not op.expands:
        raise ExecutionError(f"op accounted for {handled} of {stats.rows_in} input rows (emit or drop each row "
                             "exactly once)", step=out.step_id, op=op.name)
    stats.warnings.extend(op.warnings)


def empty_result_detail(steps: Iterable[StepStats]) -> str:
    """Per step: rows in and out and what was dropped, to show where a recipe lost its rows."""
    return "\n  ".join(f"{s.id}: {s.rows_in} in, {s.rows_out} out"
                       + (f" (dropped: {', '.join(f'{r}={n}' for r, n in s.dropped.items())})" if s.dropped else "")
                       for s in steps)
