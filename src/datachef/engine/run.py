"""`run_recipe`: validate → execute (cached, resumable) → write the corpus, dropped samples and manifest."""
from __future__ import annotations

import datetime as dt
import importlib.metadata as md
import os
import platform
import shutil
import time
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any, Callable, Iterator

import orjson

from ..errors import EmptyResultError, ExecutionError
from ..io import dump_model_yaml, sha256_file, task_base_dir, write_json_atomic
from ..ops import META, OpContext
from ..spec import OutputInfo, Recipe, RunManifest, SourceUse, StepStats, TaskSpec
from .cache import StepCache, default_cache_dir
from .execute import ExecutionResult, execute
from .export import output_filename, write_records
from .validate import CompiledRecipe, compile_recipe

DROPPED_SAMPLES_PER_REASON = 20
_ROLES = {"system", "user", "assistant"}


class SourcePool:
    """Opens each source of the task once, on first use; remembers what was opened (for the manifest)."""

    def __init__(self, task: TaskSpec):
        self.task, self.base, self.opened = task, task_base_dir(task), {}

    def __call__(self, source_id: str) -> Any:
        from ..sources import open_source

        if source_id not in self.opened:
            self.opened[source_id] = open_source(self.task.source(source_id), self.base)
        return self.opened[source_id]


def build_context(task: TaskSpec, *, seed: int = 0, workdir: Path | None = None,
                  capabilities: set[str] | None = None, llm: Any = None) -> OpContext:
    """An OpContext whose sources open lazily (once each) and whose benchmark loads on first use."""
    from ..sources import load_benchmark

    bench: list[Any] = []

    def _benchmark() -> list[dict]:
        if not bench:
            dev, held_out = load_benchmark(task, task_base_dir(task))
            bench.extend(dev + held_out)
        return bench

    return OpContext(task=task, open_source=SourcePool(task), benchmark_rows=_benchmark, seed=seed,
                     workdir=workdir or Path(default_cache_dir()) / "tmp" / uuid.uuid4().hex[:12],
                     capabilities=set(capabilities or ()), llm=llm)


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version(), "platform": platform.platform()}
    for pkg in ("datachef", "pydantic", "datasets", "pyarrow", "numpy", "orjson"):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            pass
    return out


def _records(rows_path: Path, output_step: str) -> Iterator[dict[str, Any]]:
    with open(rows_path, "rb") as f:
        for i, line in enumerate(f):
            row = orjson.loads(line)
            msgs = row.get("messages")
            ok = (isinstance(msgs, list) and len(msgs) >= 2
                  and all(isinstance(m, dict) and m.get("role") in _ROLES and isinstance(m.get("content"), str)
                          for m in msgs)
                  and any(m["role"] == "assistant" for m in msgs))
            if not ok:
                raise ExecutionError(f"output row {i} is not a chat record (messages with user/assistant turns)",
                                     step=output_step, field="messages")
            yield {"messages": [{"role": m["role"], "content": m["content"]} for m in msgs], "meta": row[META]}


def _dropped_samples(cache: StepCache, result: ExecutionResult, dest: Path) -> None:
    """Copy up to N dropped rows per (step, reason) into dest/<step>.jsonl."""
    dest.mkdir(parents=True, exist_ok=True)
    for key in dict.fromkeys(result.stage_of.values()):
        path = cache.path(key) / StepCache.DROPPED
        if not path.exists() or path.stat().st_size == 0:
            continue
        taken: dict[tuple[str, str], int] = defaultdict(int)
        files: dict[str, Any] = {}
        try:
            with open(path, "rb") as f:
                for line in f:
                    d = orjson.loads(line)
                    k = (d["step"], d["reason"])
                    if taken[k] >= DROPPED_SAMPLES_PER_REASON:
                        continue
                    taken[k] += 1
                    if d["step"] not in files:
                        files[d["step"]] = open(dest / f"{d['step']}.jsonl", "wb")
                    files[d["step"]].write(line if line.endswith(b"\n") else line + b"\n")
        finally:
            for fh in files.values():
                fh.close()


def build_manifest(recipe: Recipe, task: TaskSpec, *, started: str, t0: float, data: Path, fmt: str, records: int,
                   sources: list[SourceUse], steps: list[StepStats]) -> RunManifest:
    """The manifest of a finished run (typed or Python), describing the data file `data`."""
    versions = _versions()
    return RunManifest(
        datachef_version=versions.get("datachef", "unknown"), recipe_name=recipe.name,
        recipe_hash=recipe.content_hash(), task=task.name, created_at=started, seconds=round(time.time() - t0, 3),
        output=OutputInfo(path=data.name, format=fmt, records=records, sha256=sha256_file(data)),
        sources=sources, steps=steps, versions=versions)


def run_recipe(recipe: Recipe, task: TaskSpec, out_dir: str | Path, *, fmt: str = "messages",
               cache_dir: str | Path | None = None, seed: int = 0, progress: bool | None = None,
               log: Callable[[str], None] | None = None, recipe_file: str | None = None,
               capabilities: set[str] | None = None, llm: Any = None) -> RunManifest:
    """Run a recipe for `task` (typed steps here; Python programs go to the sandbox) and write OUT/{data.jsonl|data.parquet, manifest.json, recipe.yaml, dropped/}.

    Nothing is written to `out_dir` unless the whole run succeeds; intermediate results live in the step cache
    (`cache_dir`, default $DATACHEF_CACHE or ~/.cache/datachef), so a failed or killed run resumes where it stopped.
    """
    if recipe.python is not None:  # the paper's form: an untrusted script, run in the sandbox
        from .python_recipe import run_python_recipe

        return run_python_recipe(recipe, task, out_dir, fmt=fmt, cache_dir=cache_dir, llm=llm, seed=seed,
                                 recipe_file=recipe_file, log=log)
    t0 = time.time()
    started = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    cache = StepCache(Path(cache_dir) if cache_dir else default_cache_dir())
    caps = set(capabilities or ()) | ({"llm"} if llm is not None else set())
    ctx = build_context(task, seed=seed, workdir=cache.root / "tmp" / uuid.uuid4().hex[:12],
                        capabilities=caps, llm=llm)
    try:
        compiled: CompiledRecipe = compile_recipe(recipe, ctx, file=recipe_file)
        if log:
            for w in compiled.warnings:
                log(f"warning: {w}")
        result = execute(compiled, cache, progress=progress, log=log)
    finally:
        shutil.rmtree(ctx.workdir, ignore_errors=True)

    out_stats = result.stats[compiled.output]
    if out_stats.rows_out == 0:
        lost = [f"{s.id}: {s.rows_in} in, {s.rows_out} out"
                + (f" (dropped: {', '.join(f'{r}={n}' for r, n in s.dropped.items())})" if s.dropped else "")
                for s in result.stats.values()]
        raise EmptyResultError("the recipe produced no records; per step:\n  " + "\n  ".join(lost),
                               step=compiled.output, file=recipe_file)

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    staging = out / f".staging-{uuid.uuid4().hex[:8]}"
    staging.mkdir()
    try:
        data_name = output_filename(fmt)
        rows_path = cache.path(result.stage_of[compiled.output]) / StepCache.ROWS
        n = write_records(_records(rows_path, compiled.output), staging / data_name, fmt)
        _dropped_samples(cache, result, staging / "dropped")
        (staging / "recipe.yaml").write_text(dump_model_yaml(recipe), encoding="utf-8")
        opened = ctx.open_source.opened  # type: ignore[union-attr]
        manifest = build_manifest(
            recipe, task, started=started, t0=t0, data=staging / data_name, fmt=fmt, records=n,
            sources=[SourceUse(id=sid, uri=src.spec.uri, fingerprint=src.fingerprint()) for sid, src in opened.items()],
            steps=list(result.stats.values()))
        # Move into place; the manifest goes last, so a manifest always describes the data next to it.
        for name in (data_name, "recipe.yaml"):
            os.replace(staging / name, out / name)
        old = out / "dropped"
        if old.exists():
            shutil.rmtree(old)
        os.replace(staging / "dropped", old)
        write_json_atomic(out / "manifest.json", manifest.model_dump(mode="json"))
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return manifest
