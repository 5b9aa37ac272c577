"""Local streaming executor.

The compiled DAG is cut into stages: a stage starts at a source op, a global op, or a per-record op whose input is
shared, and carries on through a chain of per-record ops (map/filter) that have a single consumer. Rows stream through
a stage one at a time and the stage's output is written to the step cache, so memory stays bounded by what global ops
need, and every stage is a resume point.
"""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import orjson
from tqdm import tqdm

from ..errors import DatachefError, ExecutionError
from ..io import iter_jsonl
from ..ops import META, RecordOp, Row, RowStream
from ..spec import StepStats
from .cache import StepCache, step_key
from .step import StepOutput, run_step
from .validate import BoundStep, CompiledRecipe


@dataclass
class Stage:
    steps: list[BoundStep]  # head first, then the fused per-record chain
    key: str = ""

    @property
    def last(self) -> str:
        return self.steps[-1].step.id


@dataclass
class ExecutionResult:
    output_key: str
    stats: dict[str, StepStats]  # by step id, execution order
    stage_of: dict[str, str] = field(default_factory=dict)  # step id -> cache key of its stage


def plan_stages(compiled: CompiledRecipe) -> list[Stage]:
    consumers: dict[str, int] = {sid: 0 for sid in compiled.steps}
    for b in compiled.steps.values():
        for up in b.upstream:
            consumers[up] += 1
    stages: list[Stage] = []
    stage_by_step: dict[str, Stage] = {}
    for sid, b in compiled.steps.items():
        per_record = isinstance(b.op, RecordOp)
        if per_record and len(b.upstream) == 1 and consumers[b.upstream[0]] == 1:
            st = stage_by_step[b.upstream[0]]
            if st.last == b.upstream[0]:
                st.steps.append(b)
                stage_by_step[sid] = st
                continue
        st = Stage(steps=[b])
        stages.append(st)
        stage_by_step[sid] = st
    return stages


class StepCrash(Exception):
    """An op raised inside a fused chain; carries which step it was so the error can name it."""

    def __init__(self, step: BoundStep, error: Exception):
        super().__init__(str(error))
        self.step, self.error = step, error


class StageWriter:
    """Writes a stage's kept and dropped rows and keeps per-step counters."""

    def __init__(self, tmp: Path, stats: dict[str, StepStats]):
        self.rows = open(tmp / StepCache.ROWS, "wb")
        self.dropped = open(tmp / StepCache.DROPPED, "wb")
        self.stats = stats
        self.n_out = 0

    def drop(self, step_id: str, row: Row, reason: str) -> None:
        """Keep a dropped row (the step's counters are the caller's: a StepOutput or a fused step)."""
        self.dropped.write(orjson.dumps({"step": step_id, "reason": reason, "row": row}, default=str) + b"\n")

    def keep(self, row: Row) -> None:
        self.n_out += 1
        self.rows.write(orjson.dumps(row, default=str) + b"\n")

    def keep_lines(self, lines: list[bytes]) -> None:
        """Rows already serialised (by Ray workers), one JSON document each, in order."""
        if lines:
            self.n_out += len(lines)
            self.rows.write(b"\n".join(lines) + b"\n")

    def drop_lines(self, lines: list[bytes]) -> None:
        """Dropped-row records already serialised as `drop` writes them."""
        if lines:
            self.dropped.write(b"\n".join(lines) + b"\n")

    def close(self) -> None:
        self.rows.close()
        self.dropped.close()


def _chain(steps: list[BoundStep], writer: StageWriter) -> Callable[[Row], None]:
    """Compose the fused per-record steps into one function that pushes a row through them and into the writer."""
    sink: Callable[[Row], None] = writer.keep
    for b in reversed(steps):
        sink = _wrap(b, sink, writer)
    return sink


def _wrap(b: BoundStep, nxt: Callable[[Row], None], writer: StageWriter) -> Callable[[Row], None]:
    """One fused step: `apply` (what the op does to a row), timed on its own, then counting and provenance."""
    st = writer.stats[b.step.id]
    sid, apply = b.step.id, b.op.apply  # type: ignore[attr-defined]
    clock = time.perf_counter

    def push(row: Row) -> None:
        st.rows_in += 1
        t = clock()
        try:
            kept = apply(row)
        except Exception as e:
            raise StepCrash(b, e) from e
        st.seconds += clock() - t
        if isinstance(kept, str):
            st.dropped[kept] = st.dropped.get(kept, 0) + 1
            writer.drop(sid, row, kept)
        else:
            st.rows_out += 1
            kept[META]["ops"].append(sid)
            nxt(kept)
    return push


StageRunner = Callable[[Stage, "StageWriter", StepCache, dict[str, str], dict[str, int], bool], None]


def execute(compiled: CompiledRecipe, cache: StepCache, *, progress: bool | None = None,
            log: Callable[[str], None] | None = None, run_stage: StageRunner | None = None) -> ExecutionResult:
    """Run (or reuse from cache) every stage; return the cache key of the output stage and per-step stats.

    `run_stage` computes one stage into its writer (default: in this process, `run_stage_locally`); the Ray
    executor passes its own, and everything else (cache keys, reuse, stats, atomic commit, errors) is shared."""
    run_stage = run_stage or run_stage_locally
    if progress is None:
        progress = sys.stderr.isatty()
    keys: dict[str, str] = {}
    for sid, b in compiled.steps.items():
        keys[sid] = step_key(b.op, [keys[up] for up in b.upstream])
    stats: dict[str, StepStats] = {}
    stage_of: dict[str, str] = {}
    lengths: dict[str, int] = {}  # stage key -> rows out
    for stage in plan_stages(compiled):
        stage.key = keys[stage.last]
        for b in stage.steps:
            stage_of[b.step.id] = stage.key
        if cache.has(stage.key):
            saved = [cache.read_step_stats(keys[b.step.id]) for b in stage.steps]
            if all(x is not None for x in saved):
                for b, x in zip(stage.steps, saved):
                    # The entry may come from another recipe: keep its counts, use this recipe's names.
                    stats[b.step.id] = StepStats.model_validate(
                        {**x, "id": b.step.id, "inputs": b.upstream, "cached": True})
                lengths[stage.key] = cache.read_stats(stage.key)["rows_out"]
                if log:
                    log(f"[cached] {' -> '.join(b.step.id for b in stage.steps)}")
                continue
        t0 = time.perf_counter()
        stage_stats = {b.step.id: StepStats(id=b.step.id, op=b.op.name, inputs=b.upstream, cache_key=keys[b.step.id])
                       for b in stage.steps}
        tmp = cache.begin(stage.key)
        try:
            writer = StageWriter(tmp, stage_stats)
            try:
                run_stage(stage, writer, cache, stage_of, lengths, progress)
            finally:
                writer.close()
            head_stats = stage_stats[stage.steps[0].step.id]
            for b in stage.steps[1:]:
                stage_stats[b.step.id].warnings.extend(b.op.warnings)
            # Head time is what the stage took minus the fused steps' own time.
            fused = sum(stage_stats[b.step.id].seconds for b in stage.steps[1:])
            head_stats.seconds = max(0.0, time.perf_counter() - t0 - fused)
            (tmp / StepCache.STATS).write_bytes(orjson.dumps({
                "rows_out": writer.n_out,
                "steps": {k: v.model_dump() for k, v in stage_stats.items()},
            }))
            cache.commit(tmp, stage.key)
            for b in stage.steps:
                cache.write_step_stats(keys[b.step.id], stage_stats[b.step.id].model_dump())
        except DatachefError as e:
            cache.abort(tmp)
            if e.step is None:  # e.g. an LLM or source error raised inside an op: say which step it hit
                raise ExecutionError(e.render(), step=stage.steps[0].step.id, op=stage.steps[0].op.name) from e
            raise
        except Exception as e:  # an op crashed: name the step, keep nothing half-written
            cache.abort(tmp)
            step, err = (e.step, e.error) if isinstance(e, StepCrash) else (stage.steps[0], e)
            raise ExecutionError(f"failed: {type(err).__name__}: {err}", step=step.step.id, op=step.op.name) from err
        except BaseException:
            cache.abort(tmp)
            raise
        lengths[stage.key] = writer.n_out
        stats.update(stage_stats)
        if log:
            log(f"[ran] {' -> '.join(b.step.id for b in stage.steps)}: {writer.n_out} rows")
    ordered = {sid: stats[sid] for sid in compiled.steps}
    return ExecutionResult(output_key=keys[compiled.output], stats=ordered, stage_of=stage_of)


def run_stage_locally(stage: Stage, writer: StageWriter, cache: StepCache, stage_of: dict[str, str],
                      lengths: dict[str, int], progress: bool) -> None:
    """The stage's head runs as a step (its op's own loop) into the fused chain of the steps after it."""
    head = stage.steps[0]
    for b in stage.steps[1:]:
        b.op.setup()
    tail = _chain(stage.steps[1:], writer)
    bar: Any = tqdm(desc=" -> ".join(b.step.id for b in stage.steps), unit=" rows", disable=not progress,
                    file=sys.stderr, mininterval=0.5)

    def keep(row: Row) -> None:
        tail(row)
        bar.update()

    def stream_of(up: str) -> RowStream:
        key = stage_of[up]
        return RowStream(lambda: iter_jsonl(cache.path(key) / StepCache.ROWS), lengths[key], up)

    try:
        run_step(head.op, [stream_of(up) for up in head.upstream],
                 StepOutput(head.step.id, writer.stats[head.step.id], keep, writer.drop))
    finally:
        bar.close()
