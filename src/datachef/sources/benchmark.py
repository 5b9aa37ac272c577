"""The task's benchmark: every item, split into the dev part (visible to the chef and judge) and the held-out rest."""
from __future__ import annotations

from pathlib import Path

from ..errors import SourceError
from ..spec import TaskSpec
from .resolve import open_source


def load_benchmark(task: TaskSpec, base_dir: Path | None = None) -> tuple[list[dict], list[dict]]:
    """(dev, held_out): the first `task.benchmark.dev` items in source order, and the rest.

    `base_dir` defaults to the folder of the task file (when the task was loaded from one), else the working
    directory. Every item must have the benchmark's question, answer and choice fields.
    """
    bench = task.benchmark
    if base_dir is None:
        base_dir = task._base_dir or Path.cwd()
    source = open_source(bench.source, base_dir)
    items = list(source.iter_rows())  # a malformed benchmark line is an error: evaluation must see every item
    if not items:
        raise SourceError(f"benchmark '{bench.name}' has no items", source=bench.source.id, file=source.location)

    required = [bench.fields.question, bench.fields.answer, *(bench.fields.choices or [])]
    for index, item in enumerate(items):
        for name in required:
            if name not in item:
                raise SourceError(f"benchmark '{bench.name}' item {index} has no field '{name}' (its fields: "
                                  f"{', '.join(item)}); fix benchmark.fields", source=bench.source.id,
                                  file=source.location, field=name)
    if bench.dev >= len(items):
        raise SourceError(f"benchmark '{bench.name}' has {len(items)} items but dev={bench.dev}: nothing would be "
                          f"held out for evaluation", source=bench.source.id, file=source.location)
    return items[:bench.dev], items[bench.dev:]
