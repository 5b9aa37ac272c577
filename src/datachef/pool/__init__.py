"""The task pool: offline tasks in many domains (the built-in kitchens are members), split as the paper's is into
training tasks and held-out tasks near the training domains (in-domain) and far from them (out-of-domain), the
augmentation of training tasks into task instances (source subsets), and the paper's six held-out tasks as Hub
specs. Data only: no chef in here (chef-eval belongs with the chef).

    all_tasks() / get_task(name) / tasks_of_split(split)   what the pool holds (no task is built)
    prepare_task(name, out, seed=0)                         one task folder, deterministic, atomic per file
    prepare_tasks(tasks, out, seed=0)                       several, each in out/<name>
"""
from __future__ import annotations

import functools
import time
from pathlib import Path
from typing import Callable, Iterable

from ..io import atomic_open
from ..kitchens import write_task_folder
from .registry import PoolTask, all_tasks, get_task, tasks_of_split
from .task import SPLITS, PoolError, TaskBuild, task_files


def build_files(name: str, seed: int = 0) -> dict[str, bytes]:
    """The files of pool task `name` (relative path -> bytes, task.yaml last); kitchens give theirs plus pool.json.
    A training task's sources are guarded: rows that reproduce an item of a held-out task's benchmark (same seed)
    are removed, except from sources labelled as holding planted held-out items (see `leaks.guard_sources`)."""
    task = get_task(name)
    if task.kitchen is not None:
        from .families.kitchens import kitchen_files

        files = kitchen_files(task, seed)
    else:
        files = task_files(task.build(seed), task.domain, task.split, seed)
    if task.split == "train":
        from .leaks import guard_sources

        files = guard_sources(files, _heldout_files(seed))
    return files


@functools.lru_cache(maxsize=2)
def _heldout_files(seed: int) -> dict[str, dict[str, bytes]]:
    return {t.name: build_files(t.name, seed) for t in all_tasks() if t.split != "train"}


def prepare_task(name: str, out: Path, *, seed: int = 0, force: bool = False) -> Path:
    """Write pool task `name` into `out` and return its task.yaml. Same seed, same bytes; re-running completes an
    interrupted prepare; a folder holding another task is refused unless `force`."""
    return write_task_folder(Path(out), build_files(name, seed), what=f"pool task '{name}'", force=force)


def prepare_tasks(tasks: Iterable[PoolTask], out: Path, *, seed: int = 0, force: bool = False,
                  log: Callable[[str], None] | None = None) -> list[Path]:
    """Each task into `out/<name>`, and the pool's overview as `out/README.md`; returns their task.yaml paths.
    `log` gets a line per task (its path and seconds)."""
    paths = []
    for t in tasks:
        start = time.time()
        paths.append(prepare_task(t.name, Path(out) / t.name, seed=seed, force=force))
        if log is not None:
            log(f"{t.name}: {paths[-1]} ({time.time() - start:.1f} s)")
    with atomic_open(Path(out) / "README.md", "w") as f:
        f.write(overview())
    return paths


def overview() -> str:
    """The pool as markdown: every task with its domain, split and sizes, and why each held-out task is in or out
    of the training domains (the paper's split: 3 held-out tasks near the training domains, 3 far from them)."""
    tasks = all_tasks()
    lines = ["# The datachef task pool", "",
             f"{len(tasks)} tasks in {len({t.domain for t in tasks})} domains, built offline from data in PyPI "
             "packages (`datachef pool prepare NAME|--all|--split S`). Training tasks are what a chef is trained "
             "on (`datachef pool sample` draws task instances from them); held-out tasks only judge a chef, "
             "in-domain ones near the training domains (the paper: PHYSICS, AIME'25, LiveCodeBench v6), "
             "out-of-domain ones in no training task's domain or language (the paper: OpenFinData, ClimaQA, CHID).",
             "", "| task | domain | split | benchmark | sources | what |", "|---|---|---|---:|---:|---|"]
    lines += [f"| `{t.name}` | {t.domain} | {t.split} | {t.benchmark_size} | {t.sources} | {t.summary} |"
              for t in tasks]
    lines += ["", "## Why each held-out task is in or out of domain", ""]
    lines += [f"- `{t.name}` ({t.split}): {t.why}" for t in tasks if t.split != "train"]
    lines += ["", "No held-out benchmark item sits in a training task's sources except in those labelled in "
              "pool.json as holding planted held-out items (`planted_heldout`); rows that reproduce one "
              "elsewhere are removed when a training task is built (`heldout_rows_removed` in pool.json).", ""]
    return "\n".join(lines)


__all__ = ["SPLITS", "PoolError", "PoolTask", "TaskBuild", "all_tasks", "build_files", "get_task", "overview",
           "prepare_task", "prepare_tasks", "tasks_of_split"]
