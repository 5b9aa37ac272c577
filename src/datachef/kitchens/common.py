"""Helpers every kitchen's build uses: per-source seeds, reasoning-gym items, JSONL bytes, the task.yaml file and
the kitchen's packaged text files. All pure functions of their arguments, so a rebuild is byte-identical."""
from __future__ import annotations

import hashlib
import json
from importlib import resources
from typing import Any, Iterable

import yaml

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


def to_jsonl(rows: Iterable[Row]) -> bytes:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode("utf-8")


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
