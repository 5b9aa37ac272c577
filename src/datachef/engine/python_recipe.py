"""Run a Python-program recipe (a script using `datachef.kit`) as untrusted code, and write its corpus exactly like
the typed engine does.

    manifest = run_python_recipe(recipe, task, "out/", limits=SandboxLimits(wall_seconds=300))

1. A fresh run folder (under the cache) gets the script (`recipe.py`) and the task (`task.json`).
2. The script runs in the sandbox (`engine.sandbox`) with `datachef.kit` preloaded. It cannot read the task's files,
   the benchmark, the caches or the network; the kit steps that need them (`load`, `decontaminate`,
   `generate_with_llm`, `generate_rows`) come back to this process through the sandbox broker (`RecipeBroker`), which
   runs the real ops with a normal OpContext (sources, held-out benchmark, LLM client) under a row budget, and only
   ever sends back rows: the benchmark's items and the API keys never enter the sandbox.
3. `kit.dump` writes records, the step ledger and dropped samples into the run folder.
4. This process checks every record (JSON, the `Record` schema, user + assistant turns, and provenance naming a
   (source, row) that the broker really served: a script cannot make up rows), then writes OUT/data.jsonl (or another
   format), dropped/, recipe.yaml, sandbox.json (isolation layers, limits, output tails) and manifest.json, the
   manifest last. A failing script raises `ExecutionError` with its error and script line; nothing is written to OUT.

Results are cached by content (script, task, source and benchmark fingerprints, LLM identity, seed): re-running the
same recipe on the same data returns the stored corpus without running the script again.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import time
import uuid
from collections import defaultdict
from dataclasses import asdict
from pathlib import Path
from typing import Any, Callable

import orjson
from pydantic import ValidationError

from ..errors import EmptyResultError, ExecutionError
from ..hashing import content_hash
from ..io import cache_root, iter_jsonl, task_base_dir, write_json_atomic
from ..ops import OpContext
from ..spec import Recipe, RunManifest, SourceUse, StepStats, TaskSpec
from ..spec.record import Record
from .cache import StepCache
from .context import build_context
from .memory import run_in_memory
from .protocol import (BROKERED_OPS, DROPPED_FILE, DROPPED_SAMPLES_PER_REASON, ENV_CAPS, ENV_OUT, ENV_SEED, ENV_TASK,
                       KIT_PROTOCOL, RECORDS_FILE, STATS_FILE)
from .publish import publish_run, utc_now
from .sandbox import SandboxLimits, SandboxResult, run_sandboxed
from .step import empty_result_detail

DEFAULT_LIMITS = SandboxLimits(wall_seconds=900, cpu_seconds=600, memory_mb=4096, max_processes=64,
                               max_file_mb=2048, max_open_files=256)
SCRIPT_NAME = "recipe.py"
_STEP_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")
_CACHE_FILES = (RECORDS_FILE, STATS_FILE, DROPPED_FILE, "sources.json", "sandbox.json")


class RecipeBroker:
    """Serves a sandboxed script's brokered kit calls with the real ops, in this (trusted) process.

    Only ops in `protocol.BROKERED_OPS` are served; arguments are validated by the op's Params; at most `max_rows` rows
    may cross the boundary in total. Remembers which (source, row) pairs `load` served, so the records' provenance
    can be checked, and the statistics of each brokered step (more trustworthy than the script's own ledger)."""

    def __init__(self, ctx: OpContext, max_rows: int = 2_000_000):
        self.ctx, self.max_rows = ctx, max_rows
        self.moved = 0
        self.served: dict[str, set[int]] = defaultdict(set)
        self.stats: dict[str, StepStats] = {}

    def _charge(self, n: int, step: str, op: str) -> None:
        self.moved += n
        if self.moved > self.max_rows:
            raise ExecutionError(f"the script moved more than {self.max_rows} rows through load/decontaminate/LLM "
                                 "steps; use limit= or sample() earlier", step=step, op=op)

    def __call__(self, header: dict[str, Any], inputs: list[list[dict[str, Any]]]):
        op, step, args = header.get("op"), header.get("step"), header.get("args")
        if op not in BROKERED_OPS:
            raise ExecutionError(f"op {op!r} does not run through the broker (only {', '.join(sorted(BROKERED_OPS))})")
        if not isinstance(step, str) or not _STEP_ID.match(step):
            raise ExecutionError(f"bad step id {step!r}")
        if not isinstance(args, dict):
            raise ExecutionError("args must be an object", step=step, op=op)
        self._charge(sum(len(rows) for rows in inputs), step, op)
        rows, stats, samples = run_in_memory(self.ctx, step, op, inputs, args)
        self._charge(len(rows), step, op)
        if op == "load":
            served = self.served[args["source"]]
            for r in rows:
                served.add(r["_meta"]["row"])
        self.stats[step] = stats
        return {"stats": stats.model_dump(mode="json"), "samples": samples}, rows


def run_python_recipe(recipe: Recipe, task: TaskSpec, out_dir: str | Path, *, fmt: str = "messages",
                      cache_dir: str | Path | None = None, limits: SandboxLimits | None = None, llm: Any = None,
                      seed: int = 0, isolation: str = "auto", recipe_file: str | None = None,
                      log: Callable[[str], None] | None = None, max_broker_rows: int = 2_000_000,
                      use_cache: bool = True) -> RunManifest:
    """Run `recipe.python` for `task` in the sandbox; write OUT/{data.jsonl|..., manifest.json, recipe.yaml,
    sandbox.json, dropped/} and return the manifest.

    Args:
        limits: sandbox limits (default `DEFAULT_LIMITS`: 15 min wall, 10 min CPU, 4 GB address space).
        llm: an LLM client for `kit.generate_with_llm` / `kit.generate_rows`; it stays in this process (the script
            reaches it through the broker, so neither network access nor API keys enter the sandbox).
        isolation: "auto" | "bwrap" | "unshare" | "none" (see `engine.sandbox`).
        cache_dir: the step cache root (default $DATACHEF_CACHE or ~/.cache/datachef): holds the run folders while
            they run and the cached results.
        max_broker_rows: most rows that may cross the sandbox boundary (loads, decontamination, LLM calls).
    Raises:
        ExecutionError: the script failed, broke a limit, or tried something the sandbox blocks (`.sandbox` holds
            the `SandboxResult`); or its output is not valid chat records with real provenance.
        EmptyResultError: the script dumped no records.
    """
    t0 = time.time()
    started = utc_now()
    file = recipe_file or SCRIPT_NAME
    if recipe.python is None:
        raise ExecutionError("this recipe has typed `steps`; run it with datachef.engine.run_recipe", file=file)
    try:
        compile(recipe.python, file, "exec")
    except SyntaxError as e:
        raise ExecutionError(f"the script does not parse: {e.msg}", file=file, line=e.lineno) from None
    limits = limits or DEFAULT_LIMITS
    cache = StepCache(Path(cache_dir) if cache_dir else cache_root())
    workdir = cache.root / "tmp" / uuid.uuid4().hex[:12]
    ctx = build_context(task, seed=seed, workdir=workdir, llm=llm)
    key = _cache_key(recipe, task, llm, seed) if use_cache else None
    if key is not None and all((cache.path(key) / name).exists() for name in _CACHE_FILES):
        if log:
            log("[cached] python recipe")
        return _write_outputs(cache.path(key), recipe, task, out_dir, fmt, started, t0, cached=True)

    run_dir = cache.root / "sandbox" / uuid.uuid4().hex[:12]
    broker = RecipeBroker(ctx, max_rows=max_broker_rows)
    try:
        run_dir.mkdir(parents=True)
        write_json_atomic(run_dir / "task.json", {"task": task.model_dump(mode="json"),
                                                  "base_dir": str(task_base_dir(task))})
        env = {ENV_TASK: "{run_dir}/task.json", ENV_OUT: "{run_dir}", ENV_CAPS: "llm" if llm is not None else "",
               ENV_SEED: str(seed)}
        result = run_sandboxed(recipe.python, run_dir, script_name=SCRIPT_NAME, limits=limits, env=env,
                               preload=["datachef.kit"], hidden=_hidden_dirs(cache.root),
                               masked=_benchmark_paths(task), broker=broker, isolation=isolation)  # type: ignore[arg-type]
        if log:
            log(f"sandbox: {result.isolation} [{', '.join(result.layers)}] {result.status} in {result.seconds} s")
        if not result.ok:
            raise _script_error(result, file)
        if not (run_dir / RECORDS_FILE).exists():
            err = ExecutionError("the script finished without calling kit.dump(rows), so it produced no data",
                                 file=file)
            err.sandbox = result  # type: ignore[attr-defined]
            raise err

        # Check the script's output (untrusted) into a staging entry of the cache, then publish it from there.
        tmp = cache.begin(key or uuid.uuid4().hex)
        try:
            n = _check_records(run_dir / RECORDS_FILE, tmp / RECORDS_FILE, task, broker, file)
            steps = _check_ledger(run_dir / STATS_FILE, broker, file)
            if n == 0:
                raise EmptyResultError("the script dumped no records; per step:\n  " + empty_result_detail(steps),
                                       file=file)
            _copy_dropped(run_dir / DROPPED_FILE, tmp / DROPPED_FILE)
            write_json_atomic(tmp / STATS_FILE, {"steps": [s.model_dump(mode="json") for s in steps], "records": n})
            write_json_atomic(tmp / "sources.json", [s.model_dump() for s in ctx.open_source.uses()])  # type: ignore
            write_json_atomic(tmp / "sandbox.json", {**result.as_dict(), "limits": asdict(limits)})
            entry = cache.commit(tmp, key) if key is not None else tmp
        except BaseException:
            cache.abort(tmp)
            raise
        try:
            return _write_outputs(entry, recipe, task, out_dir, fmt, started, t0, cached=False)
        finally:
            if key is None:
                shutil.rmtree(entry, ignore_errors=True)
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)
        shutil.rmtree(workdir, ignore_errors=True)


# -- pieces ---------------------------------------------------------------------------------------------------
def _cache_key(recipe: Recipe, task: TaskSpec, llm: Any, seed: int) -> str | None:
    """What the output depends on; None (no caching) when a source cannot be fingerprinted."""
    from ..sources import open_source

    base = task_base_dir(task)
    try:  # opened apart from ctx's pool, whose opened sources are the ones the manifest lists
        fingerprints = {s.id: open_source(s, base).fingerprint() for s in task.sources}
        bench = open_source(task.benchmark.source, base).fingerprint()
    except Exception:
        return None
    body = {"kind": "python-recipe", "protocol": KIT_PROTOCOL, "script": recipe.python,
            "task": task.model_dump(mode="json"), "sources": fingerprints, "benchmark": bench, "seed": seed,
            "llm": None if llm is None else {"backend": getattr(llm, "backend", None),
                                              "model": getattr(llm, "model", None)}}
    return "py-" + content_hash(body, 32)


def _hidden_dirs(cache_root: Path) -> list[str]:
    """Folders hidden from the script besides home folders and /tmp: datachef's cache and the HF caches."""
    dirs = [str(cache_root)]
    for var in ("HF_HOME", "HF_DATASETS_CACHE", "HUGGINGFACE_HUB_CACHE", "TRANSFORMERS_CACHE", "DATACHEF_CACHE"):
        if os.environ.get(var):
            dirs.append(os.environ[var])
    return [d for d in dirs if os.path.isdir(d)]


def _benchmark_paths(task: TaskSpec) -> list[str]:
    """Local files or folders holding the benchmark, masked inside the sandbox (e.g. a pkg: file in site-packages,
    which the script's interpreter must otherwise be able to read)."""
    from ..sources import open_source

    try:
        loc = open_source(task.benchmark.source, task_base_dir(task)).location
    except Exception:
        return []
    return [loc] if loc and os.path.exists(loc) else []


def _script_error(result: SandboxResult, file: str) -> ExecutionError:
    """One clear error from a failed sandbox run: what went wrong, where in the script, and the script's frames."""
    err_info = result.error or {}
    line = err_info.get("line")
    if result.violations:
        more = f" (and {len(result.violations) - 1} more)" if len(result.violations) > 1 else ""
        msg = f"the script tried something the sandbox does not allow: {result.violations[0]}{more}"
    elif result.status in ("timeout", "limit", "killed"):
        msg = f"the script was stopped: {result.message}"
    elif err_info:
        code = f" `{err_info['code']}`" if err_info.get("code") else ""
        msg = f"the script failed{code}: {err_info.get('type')}: {err_info.get('message')}"
        frames = _script_frames(err_info.get("traceback", ""))
        if frames:
            msg += "\nscript traceback (most recent call last):\n" + frames
    else:
        tail = "\n".join(result.stderr.strip().splitlines()[-8:])
        msg = f"the script failed: {result.message}" + (f"\n{tail}" if tail else "")
    e = ExecutionError(msg, file=file, line=line)
    e.sandbox = result  # type: ignore[attr-defined]
    return e


def _script_frames(tb: str) -> str:
    """The traceback lines that point into the script (with their source line)."""
    lines = tb.splitlines()
    out = []
    for i, ln in enumerate(lines):
        m = re.match(rf'\s*File ".*/{re.escape(SCRIPT_NAME)}", line (\d+), in (.*)', ln)
        if m:
            src = lines[i + 1].strip() if i + 1 < len(lines) else ""
            out.append(f"  line {m.group(1)}, in {m.group(2)}: {src}")
    return "\n".join(out)


def _check_records(src: Path, dest: Path, task: TaskSpec, broker: RecipeBroker, file: str) -> int:
    """Validate the script's records (untrusted) and write them, normalised, to `dest`; return how many."""
    sources = {s.id for s in task.sources}
    n = 0
    with open(src, "rb") as f, open(dest, "wb") as out:
        for i, line in enumerate(f):
            if not line.strip():
                continue
            try:
                rec = Record.model_validate(orjson.loads(line))
            except (orjson.JSONDecodeError, ValidationError) as e:
                msg = e.errors()[0]["msg"] if isinstance(e, ValidationError) else str(e)
                raise ExecutionError(f"dumped record {i} is not a valid record: {msg}", file=file) from None
            if rec.meta.source not in sources or rec.meta.row not in broker.served.get(rec.meta.source, ()):
                raise ExecutionError(
                    f"dumped record {i} claims provenance (source {rec.meta.source!r}, row {rec.meta.row}) that the "
                    "script never loaded; every record must come from rows returned by kit.load", file=file,
                    field="meta")
            out.write(orjson.dumps(rec.model_dump(mode="json")) + b"\n")
            n += 1
    return n


def _check_ledger(path: Path, broker: RecipeBroker, file: str) -> list[StepStats]:
    """The script's step statistics; brokered steps use the broker's own numbers."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        steps = [StepStats.model_validate(s) for s in raw["steps"]]
    except (OSError, ValueError, KeyError, TypeError, ValidationError) as e:
        raise ExecutionError(f"the script's step ledger ({STATS_FILE}) is unreadable: {e}", file=file) from None
    return [broker.stats.get(s.id, s) if s.op in BROKERED_OPS else s for s in steps]


def _copy_dropped(src: Path, dest: Path) -> None:
    """Keep well-formed dropped samples (at most N per step and reason)."""
    taken: dict[tuple[str, str], int] = defaultdict(int)
    with open(dest, "wb") as out:
        if not src.exists():
            return
        with open(src, "rb") as f:
            for line in f:
                try:
                    d = orjson.loads(line)
                    step, reason = d["step"], d["reason"]
                except (orjson.JSONDecodeError, KeyError, TypeError):
                    continue
                if not (isinstance(step, str) and _STEP_ID.match(step) and isinstance(reason, str)):
                    continue
                if taken[(step, reason)] >= DROPPED_SAMPLES_PER_REASON:
                    continue
                taken[(step, reason)] += 1
                out.write(orjson.dumps({"step": step, "reason": reason[:200], "row": d.get("row")}) + b"\n")


def _write_outputs(entry: Path, recipe: Recipe, task: TaskSpec, out_dir: str | Path, fmt: str, started: str,
                   t0: float, *, cached: bool) -> RunManifest:
    """Publish a checked result (a cache entry) into OUT like a typed run, plus sandbox.json."""
    sandbox = json.loads((entry / "sandbox.json").read_text(encoding="utf-8"))
    sandbox["cached"] = cached
    stats = json.loads((entry / STATS_FILE).read_text(encoding="utf-8"))
    steps = [StepStats.model_validate(s) for s in stats["steps"]]
    for s in steps:
        s.cached = cached
    sources = [SourceUse.model_validate(s) for s in json.loads((entry / "sources.json").read_text(encoding="utf-8"))]
    return publish_run(out_dir, recipe, task, records=iter_jsonl(entry / RECORDS_FILE),
                       dropped=iter_jsonl(entry / DROPPED_FILE), fmt=fmt, started=started, t0=t0, sources=sources,
                       steps=steps, extra={"sandbox.json": sandbox})


__all__ = ["DEFAULT_LIMITS", "RecipeBroker", "run_python_recipe"]
