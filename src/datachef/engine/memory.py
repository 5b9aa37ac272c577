"""Running one registered op over in-memory lists of rows: what a `datachef.kit` call does in-process, and what the
sandbox broker does for a script's brokered call. The same checks as a typed recipe (`validate.bind_op`, with the
schema inferred from the rows) and the same loop and bookkeeping as the streaming executor (`step.run_step`)."""
from __future__ import annotations

import time
from typing import Any

from ..errors import DatachefError, ExecutionError
from ..ops import META, FieldTypes, Row, RowStream
from ..spec import StepStats
from .protocol import DROPPED_SAMPLES_PER_REASON
from .step import StepOutput, run_step
from .validate import bind_op

Rows = list[dict]


def row_provenance(row: Any, step_id: str, op: str, i: int) -> dict[str, Any]:
    """The provenance of input row `i`; an error naming the fix when the row is not a dict carrying it."""
    if not isinstance(row, dict):
        raise ExecutionError(f"input row {i} is a {type(row).__name__}, not a dict", step=step_id, op=op)
    meta = row.get(META)
    if not (isinstance(meta, dict) and isinstance(meta.get("source"), str) and isinstance(meta.get("row"), int)
            and isinstance(meta.get("ops"), list)):
        raise ExecutionError(
            f"input row {i} has no provenance (`{META}`); build rows from loaded ones, e.g. dict(row, field=value), "
            f"or copy `{META}` from the row it came from", step=step_id, op=op, field=META)
    return meta


def check_row_lists(inputs: Any, step_id: str, op: str) -> None:
    """Every input is a list of dict rows with provenance."""
    for rows in inputs:
        if not isinstance(rows, list):
            raise ExecutionError(f"expected a list of rows, got {type(rows).__name__}", step=step_id, op=op)
        for i, r in enumerate(rows):
            row_provenance(r, step_id, op, i)


def _fresh(row: Row) -> Row:
    """A copy an op may change without touching the caller's row: new dict, new provenance, new ops list."""
    meta = row[META]
    return {**row, META: {**meta, "ops": list(meta["ops"])}}


def _schema(rows: Rows) -> FieldTypes:
    """Field types from the first rows, plus any field that only appears further down (LLM json output varies)."""
    from ..sources import infer_fields

    fields = infer_fields(rows[:1000])
    if len(rows) > 1000:
        later = set().union(*(r.keys() for r in rows[1000:])) - fields.keys()
        if later:
            fields.update(infer_fields({k: r[k] for k in later if k in r} for r in rows[1000:]))
    fields.pop(META, None)
    return fields


def _upstream(inputs: list[Rows]) -> list[str]:
    """The steps the input rows came out of (the last entry of their provenance), in order of first appearance."""
    seen: dict[str, None] = {}
    for rows in inputs:
        for r in rows:
            ops = r[META]["ops"]
            seen.setdefault(ops[-1] if ops else f"source:{r[META]['source']}", None)
    return list(seen)


def run_in_memory(ctx: Any, step_id: str, op_name: str, inputs: list[Rows],
                  args: dict[str, Any]) -> tuple[Rows, StepStats, list[dict[str, Any]]]:
    """Run the registered op `op_name` over in-memory `inputs` exactly as the engine does; return (rows out, the
    step's statistics, up to DROPPED_SAMPLES_PER_REASON dropped rows per reason as {"step","reason","row"}). The
    caller's rows are never changed."""
    check_row_lists(inputs, step_id, op_name)
    op, problems = bind_op(op_name, args, ctx, step_id, [_schema(rows) for rows in inputs],
                           check_reads=all(inputs))
    if problems:
        if len(problems) == 1:
            raise ExecutionError(problems[0].message, step=step_id, op=op_name, field=problems[0].field)
        raise ExecutionError("; ".join((f"field '{p.field}': " if p.field else "") + p.message for p in problems),
                             step=step_id, op=op_name)
    assert op is not None

    stats = StepStats(id=step_id, op=op_name, inputs=_upstream(inputs))
    out: Rows = []
    samples: list[dict[str, Any]] = []
    taken: dict[str, int] = {}

    def sample(step: str, row: Row, reason: str) -> None:
        if taken.get(reason, 0) < DROPPED_SAMPLES_PER_REASON:
            taken[reason] = taken.get(reason, 0) + 1
            samples.append({"step": step, "reason": reason, "row": row})

    streams = [RowStream(lambda rows=rows: (_fresh(r) for r in rows), len(rows), f"inputs[{i}]")
               for i, rows in enumerate(inputs)]
    t0 = time.perf_counter()
    try:
        run_step(op, streams, StepOutput(step_id, stats, out.append, sample))
    except DatachefError as e:
        if e.step is None:
            raise ExecutionError(e.render(), step=step_id, op=op_name) from e
        raise
    except Exception as e:  # an op crashed on this data: name the step
        raise ExecutionError(f"failed: {type(e).__name__}: {e}", step=step_id, op=op_name) from e
    stats.seconds = round(time.perf_counter() - t0, 4)
    return out, stats, samples
