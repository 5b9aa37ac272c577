"""Ray Data executor: the local executor's stages, cache entries, stats and errors (`execute.execute`), with each
stage's per-row work spread over a Ray cluster.

Rows travel as serialised JSON (one binary column), never as Arrow columns, so no type is changed on the way: the
corpus is byte-identical to the local executor's, in the same order (Ray Data's `preserve_order`). Per stage:

1. Input: a Ray Dataset of rows `{i, line, line_no}`: an upstream stage's cached rows, a JSONL source's lines (read
   and cut into blocks by the driver, parsed by the workers), or row groups of a Parquet file / index ranges of a
   Hugging Face or saved dataset that each worker reads itself.
2. A global head op with a parallel form computes per-row features on the workers (dedup_exact: a 64-bit key;
   dedup_near: MinHash band hashes and signatures). The decision is the op's own code, on the driver, over those
   compact features or the input lengths (first occurrence, LSH clustering with union-find, seeded sample/mix):
   a keep/drop mask over the input rows, shared with the workers through the object store.
3. One `map_batches` applies the head (parse a source row and stamp its provenance, or apply the mask) and the fused
   chain of per-record ops, marking each dropped row with its step and reason.
4. The driver streams the result, in order, into the stage's cache entry (rows, dropped rows, per-step stats).

Stages whose head has no parallel form run on the driver with the local code, so every recipe runs and gives the
same answer: `shuffle` and the LLM ops (whose parallelism is the LLM server's), sources read with
`on_malformed: skip`, and JSON, CSV and streamed Hub sources.
"""
from __future__ import annotations

import copy
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import orjson

from ..errors import DatachefError
from ..ops import META, OpContext, RecordOp, Row, SourceOp
from .cache import StepCache
from .execute import ExecutionResult, Stage, StageWriter, StepCrash, execute, run_stage_locally
from .ray_session import cluster_cpus, import_ray
from .validate import BoundStep, CompiledRecipe

BLOCK_BYTES_MIN, BLOCK_BYTES_MAX = 1 << 20, 16 << 20  # rows are cut into blocks of about total / (4 x CPUs)
BLOCK_ROWS_MAX = 20_000  # and at most this many rows, so a block of short rows still spreads over the workers
DATASET_RANGE_ROWS = 5_000  # rows of a Hugging Face / saved dataset read by one worker call


def execute_on_ray(compiled: CompiledRecipe, cache: StepCache, *, progress: bool | None = None,
                   log: Callable[[str], None] | None = None) -> ExecutionResult:
    """`execute.execute` with stages computed on the Ray cluster this process is connected to (`ray_session`)."""
    ray = import_ray()
    if not ray.is_initialized():
        raise DatachefError("Ray is not initialised: run the Ray executor inside engine.ray_session(...)")
    _quiet_ray_data(ray)
    return execute(compiled, cache, progress=progress, log=log, run_stage=RayStageRunner(ray, log))


def _quiet_ray_data(ray: Any) -> None:
    """Order preserved (the corpus must not depend on scheduling); no progress bars or execution banners."""
    import logging

    logging.getLogger("ray.data").setLevel(logging.ERROR)  # before the settings: turning bars off logs a warning
    ctx = ray.data.DataContext.get_current()
    ctx.execution_options.preserve_order = True
    ctx.enable_progress_bars = False
    ctx.print_on_execution_start = False
    ctx.enable_auto_log_stats = False


# --------------------------------------------------------------------------------------------------------------------
# What a worker runs
# --------------------------------------------------------------------------------------------------------------------
@dataclass
class BlockPlan:
    """Everything a worker needs to turn a block of input into output rows; shipped once per stage."""

    mode: str  # "rows" (cached rows) | "jsonl" (source lines) | "parquet" (row groups) | "dataset" (index ranges)
    head_id: str | None = None  # the head step applied before the chain (None when the head is in the chain)
    source_id: str | None = None
    source_file: str | None = None  # for errors on a malformed line
    dataset: tuple[Any, str | None, Any] | None = None  # (SourceSpec, base dir, split) to reopen in the worker
    mask: Any = None  # ObjectRef of an int8 array over input positions: 1 = dropped by the head
    subset: Any = None  # ObjectRef of a bool array over a source's rows: the seeded subset `load` keeps (or None)
    mask_reason: str = ""
    chain: list[tuple[str, RecordOp]] = field(default_factory=list)  # (step id, op), fused per-record steps
    features: Any = None  # the global op whose per-row features a features pass computes


def _error_table(error: BaseException, step_id: str | None = None) -> Any:
    """An op's exception as the block's result (raising would reach the driver wrapped by Ray, its type and
    message buried in a traceback): the driver raises it as the local executor would."""
    import pickle

    import pyarrow as pa

    try:
        payload = pickle.dumps(error)
        pickle.loads(payload)
    except Exception:  # noqa: BLE001 - an exception that does not pickle travels as its type name and message
        payload = pickle.dumps((type(error).__name__, str(error)))
    return pa.table({"error": pa.array([payload], pa.binary()), "error_step": pa.array([step_id], pa.string())})


def _raise_error(table: Any, by_id: dict[str, BoundStep], step_id: str | None = None) -> None:
    """Raise the error a worker returned (see `_error_table`); `step_id`: the step it came from, if the table
    does not say."""
    import pickle

    error = pickle.loads(table.column("error")[0].as_py())
    if isinstance(error, tuple):
        error = type(error[0], (Exception,), {})(error[1])
    step_id = table.column("error_step")[0].as_py() or step_id
    if step_id is None or isinstance(error, DatachefError):
        raise error
    raise StepCrash(by_id[step_id], error)


_PLANS: dict[str, BlockPlan] = {}  # per worker process: plans already fetched and set up, by plan key


def _plan(ray: Any, key: str, ref: Any) -> BlockPlan:
    plan = _PLANS.get(key)
    if plan is None:
        plan = ray.get(ref[0])
        for _sid, op in plan.chain:
            op.setup()
        if plan.features is not None:
            plan.features.setup()
        if plan.mask is not None:
            plan.mask = ray.get(plan.mask)
        if plan.subset is not None:
            plan.subset = ray.get(plan.subset)
        _PLANS.clear()  # one stage at a time per worker: keep memory to the current plan
        _PLANS[key] = plan
    return plan


def _input_rows(plan: BlockPlan, block: Any) -> Iterator[tuple[int, Row]]:
    """(input position, row) for each row of a block."""
    if plan.mode == "parquet":  # whole row groups, read as the file source reads them
        from ..sources.files import _parquet_columns, _plain_batch

        import pyarrow.parquet as pq

        pf = pq.ParquetFile(plan.source_file)
        columns = _parquet_columns(pf)
        for group, start, end in zip(*(block.column(c).to_pylist() for c in ("group", "start", "end"))):
            i = start
            for batch in pf.iter_batches(batch_size=1024, row_groups=[group], columns=columns):
                for row in _plain_batch(batch).to_pylist():
                    if i >= end:
                        return
                    if plan.subset is None or plan.subset[i]:
                        yield i, row
                    i += 1
        return
    if plan.mode == "dataset":
        from ..sources import open_source

        spec, base, split = plan.dataset  # type: ignore[misc]
        ds = open_source(spec, Path(base) if base else None).dataset(split)
        for start, end in zip(block.column("start").to_pylist(), block.column("end").to_pylist()):
            wanted = [i for i in range(start, end) if plan.subset is None or plan.subset[i]]
            for i, row in zip(wanted, ds.select(wanted)):
                yield i, dict(row)
        return
    positions = block.column("i").to_pylist()
    lines = block.column("line").to_pylist()
    if plan.mode == "rows":
        for i, line in zip(positions, lines):
            yield i, orjson.loads(line)
        return
    from ..sources.base import Malformed
    from ..sources.files import _parse_json_line

    fail = Malformed(plan.source_id or "", plan.source_file, "fail", None)
    for i, line, line_no in zip(positions, lines, block.column("line_no").to_pylist()):
        row = _parse_json_line(line, line_no, fail)  # every line is parsed, as locally: a bad one fails the run
        if plan.subset is None or plan.subset[i]:
            yield i, row  # type: ignore[misc]  # "fail" raises, never returns None


def run_block(block: Any, *, plan_key: str, plan_ref: list) -> Any:
    """Ray Data `map_batches` function: the head and the fused chain over one block (a pyarrow Table).

    Output, one row per input row (per produced row for a source): `kept` (the row's JSON) or `dropped` (the
    dropped-row record's JSON) with its `step` and `reason`; `timing` (JSON of seconds per step and warnings) on the
    first row only."""
    import pyarrow as pa
    import ray

    plan = _plan(ray, plan_key, plan_ref)
    kept: list[bytes | None] = []
    dropped: list[bytes | None] = []
    steps: list[str | None] = []
    reasons: list[str | None] = []
    seconds = {sid: 0.0 for sid, _ in plan.chain}
    clock = time.perf_counter
    chain = [(sid, op.apply) for sid, op in plan.chain]

    def drop(sid: str, row: Row, reason: str) -> None:
        kept.append(None)
        dropped.append(orjson.dumps({"step": sid, "reason": reason, "row": row}, default=str))
        steps.append(sid)
        reasons.append(reason)

    try:
        rows = list(_input_rows(plan, block))
    except DatachefError as e:  # a malformed source line: the source's own error
        return _error_table(e)
    for i, row in rows:
        if plan.mode != "rows":  # a source head: provenance, as load stamps it
            row[META] = {"source": plan.source_id, "row": i, "ops": [plan.head_id]}
        elif plan.head_id is not None:  # a global head: its decision for this row
            if plan.mask[i]:
                drop(plan.head_id, row, plan.mask_reason)
                continue
            row[META]["ops"].append(plan.head_id)
        for sid, apply in chain:
            t = clock()
            try:
                out = apply(row)
            except Exception as e:  # noqa: BLE001 - a bug in an op: reported naming its step
                return _error_table(e, sid)
            seconds[sid] += clock() - t
            if isinstance(out, str):
                drop(sid, row, out)
                break
            out[META]["ops"].append(sid)
            row = out
        else:
            kept.append(orjson.dumps(row, default=str))
            dropped.append(None)
            steps.append(None)
            reasons.append(None)
    warnings = {sid: op.warnings[:] for sid, op in plan.chain if op.warnings}
    for _sid, op in plan.chain:
        op.warnings.clear()
    timing: list[bytes | None] = [None] * len(kept)
    if kept:
        timing[0] = orjson.dumps({"seconds": seconds, "warnings": warnings})
    return pa.table({"kept": pa.array(kept, pa.binary()), "dropped": pa.array(dropped, pa.binary()),
                     "step": pa.array(steps, pa.string()), "reason": pa.array(reasons, pa.string()),
                     "timing": pa.array(timing, pa.binary())})


def feature_block(block: Any, *, plan_key: str, plan_ref: list) -> Any:
    """Ray Data `map_batches` function: a global op's per-row features over one block of cached rows."""
    import pyarrow as pa
    import ray

    plan = _plan(ray, plan_key, plan_ref)
    op = plan.features
    rows = [orjson.loads(line) for line in block.column("line").to_pylist()]
    try:
        if op.name == "dedup_exact":
            return pa.table({"key": pa.array(np.fromiter((op.row_key(r) for r in rows), np.uint64, len(rows)))})
        bands, high = op.features(rows)
    except Exception as e:  # noqa: BLE001 - reported naming the step, as locally
        return _error_table(e)
    cols = {"bands": pa.array([b.tobytes() for b in bands], pa.binary())}
    if high is not None:
        cols["sig"] = pa.array([s.tobytes() for s in high], pa.binary())
    return pa.table(cols)


# --------------------------------------------------------------------------------------------------------------------
# The driver's side
# --------------------------------------------------------------------------------------------------------------------
class RayStageRunner:
    """Computes one stage on Ray (`execute`'s `run_stage`); stages without a parallel form run locally."""

    PARALLEL_GLOBAL = {"dedup_exact", "dedup_near", "sample", "mix", "concat"}

    def __init__(self, ray: Any, log: Callable[[str], None] | None = None):
        self.ray, self.log = ray, log
        self.cpus = cluster_cpus(ray)

    def _local(self, stage: Stage, why: str, *args: Any) -> None:
        if self.log:
            self.log(f"[driver] {' -> '.join(b.step.id for b in stage.steps)}: {why}")
        run_stage_locally(stage, *args)

    def __call__(self, stage: Stage, writer: StageWriter, cache: StepCache, stage_of: dict[str, str],
                 lengths: dict[str, int], progress: bool) -> None:
        head = stage.steps[0]
        op = head.op
        if isinstance(op, RecordOp):
            plan = BlockPlan(mode="rows", chain=_chain(stage.steps))
            inputs = self._cached(cache, stage_of, lengths, head.upstream)
            self._run(stage, plan, inputs, writer, n_in=inputs[1], head_drops={})
            writer.stats[head.step.id].warnings.extend(op.warnings)  # execute() adds the fused steps' own
        elif isinstance(op, SourceOp):
            source = self._source_input(head)
            if source is None:
                return self._local(stage, f"source '{op.params.source}' is read on the driver (no parallel reader "
                                   "for its format or options)", writer, cache, stage_of, lengths, progress)
            plan, inputs = source
            plan.chain = _chain(stage.steps[1:])
            self._run(stage, plan, inputs, writer, n_in=None, head_drops={})
        elif op.name in self.PARALLEL_GLOBAL:
            inputs = self._cached(cache, stage_of, lengths, head.upstream)
            op.setup()
            mask, reason = self._decide(head, inputs, [lengths[stage_of[up]] for up in head.upstream])
            n_drop = int(mask.sum())
            plan = BlockPlan(mode="rows", head_id=head.step.id, mask=self.ray.put(mask), mask_reason=reason,
                             chain=_chain(stage.steps[1:]))
            writer.stats[head.step.id].warnings.extend(op.warnings)
            self._run(stage, plan, inputs, writer, n_in=inputs[1], head_drops={reason: n_drop} if n_drop else {})
        else:
            self._local(stage, f"op '{op.name}' has no parallel form", writer, cache, stage_of, lengths, progress)

    # -- inputs ----------------------------------------------------------------------------------------------
    def _blocks(self, lines: Iterator[tuple[bytes, int]], total_bytes: int) -> tuple[Any, int]:
        """A Ray Dataset of {i, line, line_no} blocks from (line, line number) pairs, built block by block (each
        block goes to the object store as it is cut, so the driver holds one at a time); and the row count."""
        import pyarrow as pa

        target = min(BLOCK_BYTES_MAX, max(BLOCK_BYTES_MIN, total_bytes // (4 * self.cpus)))
        refs, n = [], 0
        buf: list[bytes] = []
        nos: list[int] = []
        size = 0

        def cut() -> None:
            nonlocal size
            table = pa.table({"i": pa.array(np.arange(n - len(buf), n, dtype=np.int64)),
                              "line": pa.array(buf, pa.binary()), "line_no": pa.array(nos, pa.int64())})
            refs.append(self.ray.put(table))
            buf.clear()
            nos.clear()
            size = 0

        for line, line_no in lines:
            buf.append(line)
            nos.append(line_no)
            n += 1
            size += len(line)
            if size >= target or len(buf) >= BLOCK_ROWS_MAX:
                cut()
        if buf:
            cut()
        return (self.ray.data.from_arrow_refs(refs) if refs else None), n

    def _cached(self, cache: StepCache, stage_of: dict[str, str], lengths: dict[str, int],
                upstream: list[str]) -> tuple[Any, int]:
        """The upstream stages' cached rows, concatenated in input order."""
        paths = [cache.path(stage_of[up]) / StepCache.ROWS for up in upstream]

        def lines() -> Iterator[tuple[bytes, int]]:
            for p in paths:
                with open(p, "rb") as f:
                    for k, line in enumerate(f, 1):
                        yield line.rstrip(b"\n"), k

        return self._blocks(lines(), sum(p.stat().st_size for p in paths))

    def _source_input(self, head: BoundStep) -> tuple[BlockPlan, tuple[Any, int]] | None:
        """A source's rows as blocks workers parse (JSONL) or read (datasets); None when it must run locally."""
        from ..sources import DiskSource, FileSource, HFSource

        op = head.op
        p = op.params  # type: ignore[attr-defined]
        if p.on_malformed != "fail":  # skipped lines would shift every later row's index
            return None
        # A seeded subset (`limit` + `shuffle_seed`): which rows `load` keeps depends only on the row count and
        # the seed (reservoir sampling), so the driver computes them once every row is counted.
        subset = p.shuffle_seed is not None and p.limit is not None
        read_limit = None if subset else p.limit
        src = op._source()  # type: ignore[attr-defined]
        base = dict(head_id=head.step.id, source_id=p.source)
        found: tuple[BlockPlan, tuple[Any, int]] | None = None
        if isinstance(src, FileSource) and src.format == "jsonl":
            src.resolve_split(p.split)  # an unknown split fails as it would locally
            plan = BlockPlan(mode="jsonl", source_file=str(src.path), **base)  # type: ignore[arg-type]
            found = plan, self._blocks(_jsonl_lines(src, read_limit), src.path.stat().st_size)
        elif isinstance(src, FileSource) and src.format == "parquet":
            found = self._parquet_input(src, p.split, read_limit, base)
        elif isinstance(src, (HFSource, DiskSource)) and not (isinstance(src, HFSource) and src.spec.streaming):
            found = self._dataset_input(src, p.split, read_limit, base)
        if found is not None and subset:
            plan, (_ds, n) = found
            from ..ops.load import _reservoir

            keep = np.zeros(n, dtype=bool)
            keep[[i for i, _ in _reservoir(((i, None) for i in range(n)), p.limit, p.shuffle_seed)]] = True
            plan.subset = self.ray.put(keep)
        return found

    def _parquet_input(self, src: Any, split: str | None, read_limit: int | None,
                       base: dict[str, Any]) -> tuple[BlockPlan, tuple[Any, int]]:
        """Row groups of a Parquet file, each read by a worker."""
        src.resolve_split(split)
        meta = src._parquet_file().metadata
        groups, start = [], 0
        limit = read_limit if read_limit is not None else meta.num_rows
        for g in range(meta.num_row_groups):
            if start >= limit:
                break
            rows = meta.row_group(g).num_rows
            groups.append({"group": g, "start": start, "end": min(start + rows, limit)})
            start += rows
        plan = BlockPlan(mode="parquet", source_file=str(src.path), **base)  # type: ignore[arg-type]
        n = min(limit, meta.num_rows)
        return plan, ((self.ray.data.from_items(groups, override_num_blocks=len(groups)) if groups else None), n)

    def _dataset_input(self, src: Any, split: str | None, read_limit: int | None,
                       base: dict[str, Any]) -> tuple[BlockPlan, tuple[Any, int]]:
        """Index ranges of a Hugging Face or saved dataset, each read by a worker (which reopens the dataset)."""
        from ..sources import HFSource

        split = src.resolve_split(split)
        n = len(src.dataset(split))
        if read_limit is not None:
            n = min(n, read_limit)
        if n == 0:
            return BlockPlan(mode="dataset", **base), (None, 0)  # type: ignore[arg-type]
        step = max(1, min(DATASET_RANGE_ROWS, -(-n // (2 * self.cpus))))
        starts = list(range(0, n, step))
        ranges = [{"start": s, "end": min(n, s + step)} for s in starts]
        local_dir = getattr(src, "local_dir", None)
        spec = src.spec.model_copy(update={"uri": f"hf:{local_dir}" if local_dir else src.spec.uri}) \
            if isinstance(src, HFSource) else src.spec.model_copy(update={"uri": f"disk:{src.path}"})
        plan = BlockPlan(mode="dataset", dataset=(spec, None, split), **base)  # type: ignore[arg-type]
        return plan, (self.ray.data.from_items(ranges, override_num_blocks=len(ranges)), n)

    # -- global ops: features and the decision ---------------------------------------------------------------
    def _decide(self, head: BoundStep, inputs: tuple[Any, int], lengths: list[int]) -> tuple[np.ndarray, str]:
        """(int8 mask over the input positions, 1 = dropped; the drop reason), by the op's own rule."""
        op, (ds, n) = head.op, inputs
        mask = np.zeros(n, dtype=np.int8)
        if op.name == "concat":
            return mask, ""
        if op.name in ("sample", "mix"):
            picks = [op.chosen(n)] if op.name == "sample" else op.chosen(lengths, list(head.upstream))  # type: ignore
            mask[:] = 1
            offset = 0
            for chosen, length in zip(picks, lengths):
                if chosen:
                    mask[offset + np.fromiter(chosen, np.int64, len(chosen))] = 0
                offset += length
            return mask, "not_sampled"
        batches = self._features(head, ds) if ds is not None else iter(())
        if op.name == "dedup_exact":
            seen: set[int] = set()
            k = 0
            for table in batches:
                for key in table.column("key").to_numpy().tolist():
                    if key in seen:
                        mask[k] = 1
                    else:
                        seen.add(key)
                    k += 1
            return mask, "duplicate"
        # dedup_near: the op clusters the features as it clusters its own
        from ..ops.dedup_near import cluster_root

        parent, m = op.clusters_of_features(_near_features(op, batches))  # type: ignore[attr-defined]
        for k in range(m):
            if cluster_root(parent, k) != k:
                mask[k] = 1
        return mask, "near_duplicate"

    def _features(self, head: BoundStep, ds: Any) -> Iterator[Any]:
        key, ref = self._ship(BlockPlan(mode="rows", features=_shippable(head.op)))
        out = ds.map_batches(feature_block, batch_format="pyarrow", batch_size=None, zero_copy_batch=True,
                             fn_kwargs={"plan_key": key, "plan_ref": ref})
        for batch in out.iter_batches(batch_format="pyarrow", batch_size=None):
            if "error" in batch.column_names:
                _raise_error(batch, {head.step.id: head}, head.step.id)
            yield batch

    # -- the stage's map and writing it out ------------------------------------------------------------------
    def _ship(self, plan: BlockPlan) -> tuple[str, list]:
        # Wrapped in a list: Ray would otherwise resolve a top-level ObjectRef argument into the object itself.
        return uuid.uuid4().hex, [self.ray.put(plan)]

    def _run(self, stage: Stage, plan: BlockPlan, inputs: tuple[Any, int], writer: StageWriter, *,
             n_in: int | None, head_drops: dict[str, int]) -> None:
        ds, n = inputs
        for _sid, op in plan.chain:
            op.setup()  # errors (a missing benchmark, a model that will not load) surface before any block
        plan.chain = [(sid, _shippable(op)) for sid, op in plan.chain]
        chain_ids = [sid for sid, _ in plan.chain]
        by_id = {b.step.id: b for b in stage.steps}
        drops: dict[str, dict[str, int]] = {sid: {} for sid in [plan.head_id, *chain_ids] if sid}
        seconds = {sid: 0.0 for sid in chain_ids}
        produced = 0
        if ds is not None and n > 0:
            key, ref = self._ship(plan)
            out = ds.map_batches(run_block, batch_format="pyarrow", batch_size=None, zero_copy_batch=True,
                                 fn_kwargs={"plan_key": key, "plan_ref": ref})
            for table in out.iter_batches(batch_format="pyarrow", batch_size=None):
                produced += table.num_rows
                self._write(table, writer, drops, seconds, by_id)
        # Counts per step, as the local executor keeps them.
        stats = writer.stats
        if plan.head_id is not None:
            hs = stats[plan.head_id]
            hs.dropped = {r: c for r, c in (head_drops or drops.get(plan.head_id, {})).items() if c}
            if plan.mode == "rows":  # a global head
                hs.rows_in = n
                hs.rows_out = n - sum(hs.dropped.values())
            else:  # a source: what it produced
                hs.rows_in = hs.rows_out = produced
            flow = hs.rows_out
        else:
            flow = n if n_in is None else n_in
        for sid in chain_ids:
            st = stats[sid]
            st.rows_in = flow
            st.dropped = drops[sid]
            st.rows_out = flow - sum(st.dropped.values())
            st.seconds = seconds[sid]
            flow = st.rows_out

    def _write(self, table: Any, writer: StageWriter, drops: dict[str, dict[str, int]], seconds: dict[str, float],
               by_id: dict[str, BoundStep]) -> None:
        if "error" in table.column_names:
            _raise_error(table, by_id)
        kept = table.column("kept")
        writer.keep_lines([x for x in kept.to_pylist() if x is not None])
        if kept.null_count:
            writer.drop_lines([x for x in table.column("dropped").to_pylist() if x is not None])
            for sid, reason in zip(table.column("step").to_pylist(), table.column("reason").to_pylist()):
                if sid is not None:
                    d = drops[sid]
                    d[reason] = d.get(reason, 0) + 1
        for t in table.column("timing").drop_null().to_pylist():
            info = orjson.loads(t)
            for sid, s in info["seconds"].items():
                seconds[sid] += s
            for sid, ws in info["warnings"].items():
                for w in ws:
                    if w not in by_id[sid].op.warnings:
                        by_id[sid].op.warnings.append(w)


def _chain(steps: list[BoundStep]) -> list[tuple[str, Any]]:
    return [(b.step.id, b.op) for b in steps]


def _shippable(op: Any) -> Any:
    """A copy of a bound op that pickles small: the context keeps the task and seed, not opened sources, the LLM
    client or the benchmark loader (a per-record op's heavy state, such as decontaminate's benchmark index, is
    built on the driver by `setup` and travels with it)."""
    ctx = op.ctx
    shipped = copy.copy(op)
    shipped.ctx = OpContext(task=ctx.task, workdir=ctx.workdir, seed=ctx.seed, capabilities=set(ctx.capabilities))
    shipped.warnings = []
    return shipped


def _near_features(op: Any, batches: Iterator[Any]) -> Iterator[tuple[np.ndarray, np.ndarray | None]]:
    for table in batches:
        bands = np.frombuffer(b"".join(table.column("bands").to_pylist()), dtype=np.uint64).reshape(table.num_rows,
                                                                                                    -1)
        high = None
        if "sig" in table.column_names:
            high = np.frombuffer(b"".join(table.column("sig").to_pylist()), dtype=np.uint32).reshape(table.num_rows,
                                                                                                    -1)
        yield bands, high


def _jsonl_lines(src: Any, limit: int | None) -> Iterator[tuple[bytes, int]]:
    """(line, line number) of a JSONL source's non-blank lines, as the file source reads them; at most `limit`."""
    if limit is not None and limit <= 0:
        return
    for n, (line_no, raw) in enumerate(src.jsonl_lines(), 1):
        yield raw, line_no  # as read, newline included: a malformed line's message is then the local one
        if limit is not None and n >= limit:
            return
