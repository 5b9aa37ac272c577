"""Writing a finished run's output folder, the same way for typed and Python-program recipes:

    OUT/data.jsonl (or another export format), OUT/dropped/<step>.jsonl, OUT/recipe.yaml, [extra files],
    OUT/manifest.json (last)

Everything is built in a staging folder and moved into place only when complete, the manifest last, so a manifest
always describes the data next to it and a failed run leaves OUT as it was."""
from __future__ import annotations

import datetime as dt
import importlib.metadata as md
import platform
import time
from collections import defaultdict
from pathlib import Path
from typing import Any, BinaryIO, Iterable

import orjson

from ..io import dump_model_yaml, publish_dir, sha256_file, write_json_atomic
from ..spec import OutputInfo, Recipe, RunManifest, SourceUse, StepStats, TaskSpec
from .export import output_filename, write_records
from .protocol import DROPPED_SAMPLES_PER_REASON

MANIFEST = "manifest.json"


def utc_now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version(), "platform": platform.platform()}
    for pkg in ("datachef", "pydantic", "datasets", "pyarrow", "numpy", "orjson"):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            pass
    return out


def write_dropped(samples: Iterable[dict[str, Any]], dest: Path,
                  per_reason: int = DROPPED_SAMPLES_PER_REASON) -> None:
    """Up to `per_reason` dropped rows ({"step", "reason", "row"}) per (step, reason), into dest/<step>.jsonl."""
    dest.mkdir(parents=True, exist_ok=True)
    taken: dict[tuple[str, str], int] = defaultdict(int)
    files: dict[str, BinaryIO] = {}
    try:
        for d in samples:
            k = (d["step"], d["reason"])
            if taken[k] >= per_reason:
                continue
            taken[k] += 1
            if d["step"] not in files:
                files[d["step"]] = open(dest / f"{d['step']}.jsonl", "wb")
            files[d["step"]].write(orjson.dumps(d, default=str) + b"\n")
    finally:
        for fh in files.values():
            fh.close()


def publish_run(out_dir: str | Path, recipe: Recipe, task: TaskSpec, *, records: Iterable[dict[str, Any]],
                dropped: Iterable[dict[str, Any]], fmt: str, started: str, t0: float, sources: list[SourceUse],
                steps: list[StepStats], extra: dict[str, Any] | None = None) -> RunManifest:
    """Write a run's outputs into `out_dir` (see the module docstring) and return its manifest. `records` are
    checked chat records; `extra` maps further file names to JSON-able objects (e.g. a sandbox report)."""
    with publish_dir(out_dir, last=(MANIFEST,)) as staging:
        data = staging / output_filename(fmt)
        n = write_records(records, data, fmt)
        write_dropped(dropped, staging / "dropped")
        (staging / "recipe.yaml").write_text(dump_model_yaml(recipe), encoding="utf-8")
        for name, obj in (extra or {}).items():
            write_json_atomic(staging / name, obj)
        versions = _versions()
        manifest = RunManifest(
            datachef_version=versions.get("datachef", "unknown"), recipe_name=recipe.name,
            recipe_hash=recipe.content_hash(), task=task.name, created_at=started,
            seconds=round(time.time() - t0, 3),
            output=OutputInfo(path=data.name, format=fmt, records=n, sha256=sha256_file(data)),
            sources=sources, steps=steps, versions=versions)
        write_json_atomic(staging / MANIFEST, manifest.model_dump(mode="json"))
    return manifest
