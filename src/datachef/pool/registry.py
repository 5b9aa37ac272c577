"""The pool's task list: name, domain, split and size of every task, without building any of them."""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Callable

from .task import SPLITS, PoolError, Split, TaskBuild


@dataclass(frozen=True)
class PoolTask:
    name: str
    domain: str
    split: Split
    benchmark_size: int
    sources: int
    summary: str
    builder: str  # "module:function" (seed -> TaskBuild); modules are imported only to build
    why: str = ""  # held-out tasks: why they are in or out of the training domains
    kitchen: str | None = None  # members that are built-in kitchens

    def build(self, seed: int) -> TaskBuild:
        module, func = self.builder.split(":")
        fn: Callable[[int], TaskBuild] = getattr(importlib.import_module(module), func)
        return fn(seed)


def _family_tasks() -> list[PoolTask]:
    from .families import FAMILIES

    tasks: list[PoolTask] = []
    for family in FAMILIES:
        tasks += importlib.import_module(f"{__package__}.families.{family}").TASKS
    return tasks


def all_tasks() -> list[PoolTask]:
    """Every pool task, train tasks first, then held-out in-domain and out-of-domain, by name within a split."""
    tasks = _family_tasks()
    names = [t.name for t in tasks]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise PoolError(f"duplicate pool task names: {', '.join(dupes)}")
    return sorted(tasks, key=lambda t: (SPLITS.index(t.split), t.name))


def get_task(name: str) -> PoolTask:
    for t in all_tasks():
        if t.name == name:
            return t
    raise PoolError(f"unknown pool task '{name}' (see `datachef pool list`)")


def tasks_of_split(split: str) -> list[PoolTask]:
    if split not in SPLITS:
        raise PoolError(f"unknown split '{split}' (one of: {', '.join(SPLITS)})")
    return [t for t in all_tasks() if t.split == split]
