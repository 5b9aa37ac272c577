"""Helpers every kitchen's build uses: per-source seeds, reasoning-gym items, JSONL bytes, the task.yaml file and
the kitchen's packaged text files. All pure functions of their arguments, so a rebuild is byte-identical."""
from __future__ import annotations

import hashlib
import json
from importlib import resources
from dataclasses import dataclass
from typing import Any, Callable, Iterable

import yaml

from ..errors import DatachefError
from ..spec import TaskSpec

Row = dict[str, Any]


def kitchen_sub_seed(kitchen: str, seed: int, name: str) -> int:
    """A per-source seed that does not depend on Python's hash randomisation."""
    digest = hashlib.sha256(f"datachef-kitchen:{kitchen}:{seed}:{name}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFF_FFFF


def rg_items(name: str, size: int, seed: int, **config: Any) -> list[Row]:
    """`size` items of reasoning-gym generator `name`."""
    import reasoning_gym  # imported lazily: it is slow to import and only needed to build

    return list(reasoning_gym.create_dataset(name, size=size, seed=seed, **config))


# Characters JSON leaves raw but line splitters (Python's str.splitlines, some editors) treat as line breaks.
_LINE_BREAKS = str.maketrans({"\u2028": "\\u2028", "\u2029": "\\u2029", "\x85": "\\u0085"})


def to_jsonl(rows: Iterable[Row]) -> bytes:
    """JSON lines, UTF-8, with the Unicode line separators escaped so that every record stays on one line
    whichever way a reader splits lines."""
    return "".join(json.dumps(r, ensure_ascii=False).translate(_LINE_BREAKS) + "\n" for r in rows).encode("utf-8")


def task_yaml(kitchen: str, seed: int, data: dict[str, Any], layout: str) -> bytes:
    """task.yaml of a kitchen: a header naming the command that made it and where its files are (`layout`), then
    the task, validated first: a kitchen that writes an invalid task is a bug here, not the user's problem."""
    TaskSpec.model_validate(data)
    header = (f"# Task of the built-in '{kitchen}' kitchen (datachef kitchen prepare {kitchen} --seed {seed}).\n"
              f"# {layout}\n")
    return (header + yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=120)).encode("utf-8")


def package_text(package: str, name: str) -> bytes:
    """A file shipped inside a kitchen's package (README.md, expert_recipe.yaml)."""
    return resources.files(package).joinpath(name).read_bytes()


@dataclass(frozen=True)
class SourceDef:
    """What a kitchen declares per source: an id, the one-sentence description the chef sees (catalogue-style: it
    names a trap only as a user could), and its builder (the kitchen's build context -> rows)."""

    id: str
    description: str
    build: Callable[[Any], list[Row]]


def source_specs(sources: Iterable[SourceDef]) -> list[dict[str, Any]]:
    """The task.yaml `sources` entries: each source is `sources/<id>.jsonl`."""
    return [{"id": s.id, "uri": f"sources/{s.id}.jsonl", "format": "jsonl", "description": s.description}
            for s in sources]


def kitchen_files(package: str, sources: Iterable[SourceDef], ctx: Any, task: bytes,
                  first: dict[str, bytes] | None = None) -> dict[str, bytes]:
    """Every file of a prepared kitchen in the order they are written: `first` (e.g. a benchmark file), each
    source built from `ctx`, the packaged README.md and expert_recipe.yaml, and task.yaml last (so an interrupted
    prepare never leaves a task that points at missing files)."""
    files = dict(first or {})
    for src in sources:
        rows = src.build(ctx)
        if not rows:
            raise DatachefError("generator produced no rows", source=src.id)
        files[f"sources/{src.id}.jsonl"] = to_jsonl(rows)
    files["README.md"] = package_text(package, "README.md")
    files["expert_recipe.yaml"] = package_text(package, "expert_recipe.yaml")
    files["task.yaml"] = task
    return files
