"""Built-in offline kitchens: ready-made example tasks (a TaskSpec, a pool of raw sources of mixed relevance and
quality built from data shipped in PyPI packages, and a hand-written expert recipe).

A kitchen is a sub-package exposing `NAME`, `DESCRIPTION` and `build_files(seed) -> {relative path: bytes}`.
`prepare_kitchen` writes those files; it is deterministic (same seed, same bytes) and writes each file atomically,
`task.yaml` last, so an interrupted prepare never leaves a complete-looking task with missing or half sources.
"""
from __future__ import annotations

import importlib
import os
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from ..errors import DatachefError
from ..io import atomic_open

# name -> module. Kitchen modules are cheap to import (reasoning-gym, slow to import, is loaded only to build).
_KITCHENS: dict[str, str] = {"arithmetic": f"{__name__}.arithmetic", "gsm8k": f"{__name__}.gsm8k"}


@dataclass(frozen=True)
class KitchenInfo:
    name: str
    description: str


def list_kitchens() -> list[KitchenInfo]:
    """Every built-in kitchen, by name."""
    return [KitchenInfo(name, _module(name).DESCRIPTION) for name in sorted(_KITCHENS)]


def _module(name: str) -> ModuleType:
    if name not in _KITCHENS:
        available = ", ".join(sorted(_KITCHENS))
        raise DatachefError(f"unknown kitchen '{name}' (available: {available})")
    return importlib.import_module(_KITCHENS[name])


def _conflicts(out: Path, files: dict[str, bytes]) -> list[str]:
    """Files of `out` that would be overwritten with different content."""
    return [rel for rel, data in files.items()
            if (out / rel).exists() and (not (out / rel).is_file() or (out / rel).read_bytes() != data)]


def _is_leftover(path: Path) -> bool:
    """A temporary file of `atomic_open` left by a prepare that was killed (its target was never replaced)."""
    return path.name.startswith(".") and path.name.endswith(".tmp")


def _foreign(out: Path, files: dict[str, bytes]) -> list[Path]:
    """Entries of `out` (and of `out/sources`) that are neither kitchen files nor leftovers of a killed prepare."""
    ours = {out / rel for rel in files}
    entries = list(out.iterdir()) + (list((out / "sources").iterdir()) if (out / "sources").is_dir() else [])
    return [p for p in entries if p not in ours and p != out / "sources" and not _is_leftover(p)]


def prepare_kitchen(name: str, out: Path, *, seed: int = 0, force: bool = False) -> Path:
    """Write kitchen `name` into `out` (task.yaml, expert_recipe.yaml, README.md, sources/<id>.jsonl) and return the
    path of its task.yaml (see `write_task_folder` for re-runs, conflicts and `force`)."""
    module = _module(name)
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise DatachefError("output path exists and is not a folder", file=str(out))
    return write_task_folder(out, module.build_files(seed), what=f"'{name}' kitchen", force=force)


def write_task_folder(out: Path, files: dict[str, bytes], *, what: str, force: bool = False) -> Path:
    """Write a task folder's `files` (relative path -> bytes, task.yaml last) into `out`; return its task.yaml.

    Re-running with the same files is a no-op (identical bytes; files left untouched) and completes an interrupted
    run. Without `force`, a DatachefError is raised if `out` holds any of these files with other content (another
    seed or task, or hand edits), or is a non-empty folder holding none of them. With `force`, the files are
    overwritten and stale `sources/*.jsonl` files are removed; nothing else in `out` is touched.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise DatachefError("output path exists and is not a folder", file=str(out))
    if out.exists() and not force:
        conflicts = _conflicts(out, files)
        if conflicts:
            shown = ", ".join(conflicts[:3]) + (f" and {len(conflicts) - 3} more" if len(conflicts) > 3 else "")
            raise DatachefError(f"folder already holds a different task (or another seed): {shown} differ; "
                                f"pass force=True (--force) to overwrite, or choose another folder", file=str(out))
        if _foreign(out, files) and not any((out / rel).exists() for rel in files):
            raise DatachefError(f"folder is not empty and holds no {what}; choose an empty or new folder, "
                                "or pass force=True (--force) to write into it anyway", file=str(out))

    if force and (out / "sources").is_dir():
        for stale in sorted((out / "sources").glob("*.jsonl")):
            if f"sources/{stale.name}" not in files:
                stale.unlink()
    for rel, data in files.items():  # task.yaml comes last
        target = out / rel
        if target.is_file() and target.read_bytes() == data:
            continue  # keep the file (and its mtime) when nothing changed
        with atomic_open(target, "wb") as f:
            f.write(data)
            os.fchmod(f.fileno(), 0o644)  # the temporary file is 0600; these are ordinary, shareable data files
    for rel in files:  # temporary files a killed earlier prepare left next to its targets
        for leftover in (out / rel).parent.glob(f".{(out / rel).name}.*.tmp"):
            leftover.unlink(missing_ok=True)
    return out / "task.yaml"


__all__ = ["KitchenInfo", "list_kitchens", "prepare_kitchen", "write_task_folder"]
