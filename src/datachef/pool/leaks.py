"""The pool's leak check: no held-out task's benchmark item may sit in a training task's sources, except in sources
labelled as holding planted held-out items (pool.json `planted_heldout`).

The held-out benchmarks (dev items included: the whole benchmark is held out from training tasks) go into one
`BenchmarkIndex` under the project's contamination rule (the decontaminate op's: a record reproducing most of an
item's distinctive 8-gram words, or its whole question, possibly with one word edited); every row of every
training task's other sources is matched against it, all its text fields together.
"""
from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping

import yaml

from ..ops.contamination import BenchmarkIndex, ContaminationRule
from ..spec import TaskSpec

Files = Mapping[str, bytes]


@dataclass(frozen=True)
class PoolLeak:
    heldout_task: str
    heldout_item: int
    train_task: str
    source: str
    row: int
    how: str


def _rows(data: bytes) -> list[dict[str, Any]]:
    # split on newlines only: str.splitlines would also split at U+2028 and friends inside JSON strings
    return [json.loads(line) for line in data.split(b"\n") if line.strip()]


def _texts(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, (list, tuple)):
        return [t for v in value for t in _texts(v)]
    if isinstance(value, dict):
        return [t for v in value.values() for t in _texts(v)]
    return []


def _task(files: Files) -> TaskSpec:
    return TaskSpec.model_validate(yaml.safe_load(files["task.yaml"].decode("utf-8")))


def heldout_index(heldout: Mapping[str, Files]) -> tuple[BenchmarkIndex, list[tuple[str, int]]]:
    """One index over every held-out benchmark's items (question with its options, and answer), and the
    (task, item) behind each of its positions."""
    items, origin = [], []
    for name, files in sorted(heldout.items()):
        fields = _task(files).benchmark.fields
        for i, item in enumerate(_rows(files["benchmark.jsonl"])):
            question = " ".join(_texts(item.get(fields.question)) +
                                [t for c in (fields.choices or []) for t in _texts(item.get(c))])
            items.append({"question": question, "answer": " ".join(_texts(item.get(fields.answer)))})
            origin.append((name, i))
    return BenchmarkIndex(items, rule=ContaminationRule(include_dev=True)), origin


@functools.lru_cache(maxsize=4)
def _cached_index(key: tuple[tuple[str, bytes, bytes], ...]) -> tuple[BenchmarkIndex, list[tuple[str, int]]]:
    return heldout_index({name: {"task.yaml": task, "benchmark.jsonl": bench} for name, task, bench in key})


def guard_sources(files: Files, heldout: Mapping[str, Files]) -> dict[str, bytes]:
    """`files` with every row that reproduces a held-out benchmark item removed from the sources not labelled as
    planted (the removed counts go into pool.json as `heldout_rows_removed`). Rows kept keep their bytes."""
    index, _ = _cached_index(tuple((name, f["task.yaml"], f["benchmark.jsonl"]) for name, f in sorted(heldout.items())))
    meta = json.loads(files["pool.json"])
    out = dict(files)
    for s in meta["sources"]:
        if s.get("planted_heldout"):
            continue
        rel = f"sources/{s['id']}.jsonl"
        lines = [line for line in files[rel].split(b"\n") if line.strip()]
        kept = [line for line in lines if index.match(_texts(json.loads(line))) is None]
        if len(kept) < len(lines):
            out[rel] = b"".join(line + b"\n" for line in kept)
            s["heldout_rows_removed"] = len(lines) - len(kept)
            if "rows" in s:
                s["rows"] = len(kept)
    out["pool.json"] = (json.dumps(meta, indent=2) + "\n").encode("utf-8")
    task_yaml = out.pop("task.yaml")
    out["task.yaml"] = task_yaml  # stays last
    return out


def find_leaks(train: Mapping[str, Files], heldout: Mapping[str, Files]) -> list[PoolLeak]:
    """Every row of a training task's non-planted sources that reproduces a held-out benchmark item."""
    index, origin = heldout_index(heldout)
    leaks = []
    for name, files in sorted(train.items()):
        meta = json.loads(files["pool.json"])
        planted = {s["id"] for s in meta["sources"] if s.get("planted_heldout")}
        for rel in sorted(files):
            if not rel.startswith("sources/"):
                continue
            source = rel[len("sources/"):-len(".jsonl")]
            if source in planted:
                continue
            for r, row in enumerate(_rows(files[rel])):
                hit = index.match(_texts(row))
                if hit is not None:
                    task, item = origin[hit.item]
                    leaks.append(PoolLeak(task, item, name, source, r, hit.how))
    return leaks


def read_prepared(folder: Path) -> dict[str, dict[str, dict[str, bytes]]]:
    """The task folders under `folder` (each with task.yaml and pool.json) by split: {"train": {name: files},
    "heldout": {name: files}}; files are task.yaml, pool.json, benchmark.jsonl (when local) and sources/*.jsonl."""
    out: dict[str, dict[str, dict[str, bytes]]] = {"train": {}, "heldout": {}}
    for meta_path in sorted(Path(folder).glob("*/pool.json")):
        task_dir = meta_path.parent
        if not (task_dir / "task.yaml").is_file():
            continue
        files = {"task.yaml": (task_dir / "task.yaml").read_bytes(), "pool.json": meta_path.read_bytes()}
        if (task_dir / "benchmark.jsonl").is_file():
            files["benchmark.jsonl"] = (task_dir / "benchmark.jsonl").read_bytes()
        for src in sorted((task_dir / "sources").glob("*.jsonl")):
            files[f"sources/{src.name}"] = src.read_bytes()
        split = json.loads(files["pool.json"])["split"]
        out["train" if split == "train" else "heldout"][task_dir.name] = files
    return out


def planted_items(files: Files, heldout: Iterable[Files]) -> int:
    """How many rows of a task's planted sources reproduce an item of `heldout` (a sanity check that planting
    works)."""
    index, _ = heldout_index({str(i): f for i, f in enumerate(heldout)})
    meta = json.loads(files["pool.json"])
    n = 0
    for s in meta["sources"]:
        if s.get("planted_heldout"):
            n += sum(index.match(_texts(row)) is not None for row in _rows(files[f"sources/{s['id']}.jsonl"]))
    return n
