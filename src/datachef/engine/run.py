"""`run_recipe`: validate → execute (cached, resumable) → publish the corpus, dropped samples and manifest."""
from __future__ import annotations

import itertools
import shutil
import time
import uuid
from pathlib import Path
from typing import Any, Callable, Iterator

from ..errors import DatachefError, EmptyResultError, ExecutionError
from ..io import cache_root, iter_jsonl
from ..ops import META
from ..spec import Recipe, RunManifest, TaskSpec
from ..spec.record import chat_problem, plain_messages
from .cache import StepCache
from .context import build_context
from .execute import execute
from .publish import publish_run, utc_now
from .step import empty_result_detail
from .validate import compile_recipe

EXECUTORS = ("local", "ray")


def _records(rows_path: Path, output_step: str) -> Iterator[dict[str, Any]]:
    """The output step's rows as chat records (messages + provenance), each checked."""
    for i, row in enumerate(iter_jsonl(rows_path)):
        problem = chat_problem(row.get("messages"))
        if problem is not None:
            raise ExecutionError(f"output row {i} is not a chat record: {problem}", step=output_step,
                                 field="messages")
        yield {"messages": plain_messages(row["messages"]), "meta": row[META]}


def run_recipe(recipe: Recipe, task: TaskSpec, out_dir: str | Path, *, fmt: str = "messages",
               cache_dir: str | Path | None = None, seed: int = 0, progress: bool | None = None,
               log: Callable[[str], None] | None = None, recipe_file: str | None = None,
               capabilities: set[str] | None = None, llm: Any = None, executor: str = "local",
               ray_address: str | None = None) -> RunManifest:
    """Run a recipe for `task` (typed steps here; Python programs go to the sandbox) and write
    OUT/{data.jsonl|data.parquet, manifest.json, recipe.yaml, dropped/}.

    Nothing is written to `out_dir` unless the whole run succeeds; intermediate results live in the step cache
    (`cache_dir`, default $DATACHEF_CACHE or ~/.cache/datachef), so a failed or killed run resumes where it stopped.
    `executor="ray"` computes the stages on Ray (the cluster this process is connected to, `ray_address`, or a
    local one started for the run): same corpus, cache entries and manifest.
    """
    if executor not in EXECUTORS:
        raise DatachefError(f"unknown executor {executor!r} (one of: {', '.join(EXECUTORS)})", field="executor")
    if recipe.python is not None:  # the paper's form: an untrusted script, run in the sandbox
        from .python_recipe import run_python_recipe

        return run_python_recipe(recipe, task, out_dir, fmt=fmt, cache_dir=cache_dir, llm=llm, seed=seed,
                                 recipe_file=recipe_file, log=log)
    t0 = time.time()
    started = utc_now()
    cache = StepCache(Path(cache_dir) if cache_dir else cache_root())
    ctx = build_context(task, seed=seed, workdir=cache.root / "tmp" / uuid.uuid4().hex[:12],
                        capabilities=capabilities, llm=llm)
    try:
        compiled = compile_recipe(recipe, ctx, file=recipe_file)
        if log:
            for w in compiled.warnings:
                log(f"warning: {w}")
        if executor == "ray":
            from .ray_executor import execute_on_ray
            from .ray_session import ray_session

            with ray_session(ray_address, log=log):
                result = execute_on_ray(compiled, cache, progress=progress, log=log)
        else:
            result = execute(compiled, cache, progress=progress, log=log)
    finally:
        shutil.rmtree(ctx.workdir, ignore_errors=True)

    if result.stats[compiled.output].rows_out == 0:
        raise EmptyResultError("the recipe produced no records; per step:\n  "
                               + empty_result_detail(result.stats.values()), step=compiled.output, file=recipe_file)
    stage_keys = dict.fromkeys(result.stage_of.values())
    dropped = itertools.chain.from_iterable(
        iter_jsonl(cache.path(key) / StepCache.DROPPED) for key in stage_keys
        if (cache.path(key) / StepCache.DROPPED).exists())
    rows_path = cache.path(result.stage_of[compiled.output]) / StepCache.ROWS
    return publish_run(out_dir, recipe, task, records=_records(rows_path, compiled.output), dropped=dropped,
                       fmt=fmt, started=started, t0=t0, sources=ctx.open_source.uses(),  # type: ignore[union-attr]
                       steps=list(result.stats.values()))
