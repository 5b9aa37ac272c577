"""Training-task augmentation (the paper's §3.2): task instances T' = (instruction, benchmark, subset of sources).

A training task is drawn with probability proportional to its number of sources, then a non-empty subset of its
sources uniformly (every non-empty subset equally likely: each source kept with probability 1/2, redrawn when
none is); identical instances are drawn once. Each instance is a task.yaml that points at the prepared task's
benchmark and source files (relative paths), so thousands of instances cost a few kB each.
"""
from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path
import os
from typing import Any, Sequence

import yaml

from ..errors import DatachefError
from ..io import atomic_open, load_task


def _instance_id(task: str, sources: Sequence[str]) -> str:
    digest = hashlib.sha256(json.dumps([task, sorted(sources)]).encode()).hexdigest()[:10]
    return f"{task}--{digest}"


def sample_instances(task_dirs: dict[str, Path], n: int, out: Path, *, seed: int = 0) -> list[Path]:
    """Draw `n` distinct instances over the prepared tasks `task_dirs` (name -> folder holding task.yaml) and write
    each as `out/<task>--<hash>.yaml`, plus `out/instances.jsonl` (id, task, sources, file) in draw order.
    Returns the instance files. Deterministic in `seed`; raises when fewer than `n` distinct instances exist."""
    specs = {name: load_task(Path(folder) / "task.yaml") for name, folder in sorted(task_dirs.items())}
    if not specs:
        raise DatachefError("no tasks to draw instances from")
    names = sorted(specs)
    weights = [len(specs[name].sources) for name in names]
    capacity = sum(2 ** w - 1 for w in weights)
    if n > capacity:
        raise DatachefError(f"only {capacity} distinct task instances exist over {len(names)} tasks; asked for {n}")
    rng = random.Random(seed)
    seen: set[str] = set()
    drawn: list[tuple[str, str, list[str]]] = []
    while len(drawn) < n:
        name = rng.choices(names, weights=weights)[0]
        ids = [s.id for s in specs[name].sources]
        subset: list[str] = []
        while not subset:
            subset = [i for i in ids if rng.random() < 0.5]
        key = _instance_id(name, subset)
        if key in seen:
            continue
        seen.add(key)
        drawn.append((key, name, subset))

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    files, index = [], []
    for key, name, subset in drawn:
        path = out / f"{key}.yaml"
        with atomic_open(path, "w") as f:
            f.write(_instance_yaml(specs[name], Path(task_dirs[name]), out, subset, key))
        files.append(path)
        index.append({"id": key, "task": name, "sources": subset, "file": path.name})
    with atomic_open(out / "instances.jsonl", "w") as f:
        f.writelines(json.dumps(r) + "\n" for r in index)
    return files


def _relative(path: Path, start: Path) -> str:
    return os.path.relpath(path.resolve(), start.resolve())


def _instance_yaml(spec: Any, task_dir: Path, out: Path, subset: list[str], key: str) -> str:
    data = spec.model_dump(mode="json", exclude_defaults=False)
    keep = set(subset)
    data["name"] = key.replace("--", "-")
    data["sources"] = [s for s in data["sources"] if s["id"] in keep]
    for s in data["sources"] + [data["benchmark"]["source"]]:
        if not (s["uri"].startswith(("hf:", "pkg:", "disk:")) or Path(s["uri"]).is_absolute()):
            s["uri"] = _relative(task_dir / s["uri"], out)
    header = (f"# Task instance of the pool task '{spec.name}' (datachef pool sample): its benchmark and "
              f"{len(subset)} of its {len(spec.sources)} sources.\n")
    return header + yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=120)
