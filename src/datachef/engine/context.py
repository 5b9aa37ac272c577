"""The OpContext a run gives its ops: the task's sources, opened lazily (once each), and the benchmark, loaded on
first use. Shared by typed runs, the Python-recipe broker, the kit outside the sandbox and the chef's validation.
Also the task's contamination index (`load_benchmark_index`), for checks outside a recipe run."""
from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from ..io import cache_root, task_base_dir
from ..ops import OpContext
from ..ops.contamination import BenchmarkIndex, ContaminationRule
from ..spec import SourceUse, TaskSpec


class SourcePool:
    """Opens each source of the task once, on first use; remembers what was opened (for the manifest)."""

    def __init__(self, task: TaskSpec):
        self.task, self.base, self.opened = task, task_base_dir(task), {}

    def __call__(self, source_id: str) -> Any:
        from ..sources import open_source

        if source_id not in self.opened:
            self.opened[source_id] = open_source(self.task.source(source_id), self.base)
        return self.opened[source_id]

    def uses(self) -> list[SourceUse]:
        """The sources opened so far, with their fingerprints (what a manifest lists)."""
        return [SourceUse(id=sid, uri=src.spec.uri, fingerprint=src.fingerprint()) for sid, src in self.opened.items()]


def build_context(task: TaskSpec, *, seed: int = 0, workdir: Path | None = None,
                  capabilities: set[str] | None = None, llm: Any = None) -> OpContext:
    """An OpContext whose sources open lazily (once each) and whose benchmark loads on first use. `llm` adds the
    "llm" capability."""
    from ..sources import load_benchmark

    bench: list[Any] = []

    def _benchmark() -> list[dict]:
        if not bench:
            dev, held_out = load_benchmark(task, task_base_dir(task))
            bench.extend(dev + held_out)
        return bench

    caps = set(capabilities or ()) | ({"llm"} if llm is not None else set())
    return OpContext(task=task, open_source=SourcePool(task), benchmark_rows=_benchmark, seed=seed,
                     workdir=workdir or cache_root() / "tmp" / uuid.uuid4().hex[:12], capabilities=caps, llm=llm)


def load_benchmark_index(task: TaskSpec, base_dir: Path | None = None,
                         rule: ContaminationRule | None = None) -> BenchmarkIndex:
    """The contamination index of the task's benchmark (dev and held-out items, as `load_benchmark` splits them),
    for checking whole corpora record by record with `match`; `base_dir` defaults to the task file's folder."""
    from ..sources import load_benchmark

    dev, held_out = load_benchmark(task, base_dir or task_base_dir(task))
    return BenchmarkIndex.for_task(task, dev + held_out, rule)
