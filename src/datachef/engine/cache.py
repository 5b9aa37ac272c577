"""Content-addressed step cache.

A step's key hashes (op, op version, args, upstream keys, op-specific context such as a source fingerprint), so the
key names exactly what the output is. A stage's output directory is built under a temporary name and renamed into
place when complete: a killed run leaves either a whole entry or none, and the next run resumes from what exists.
"""
from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path
from typing import Any

from ..hashing import content_hash
from ..ops import Op


def step_key(op: Op, upstream_keys: list[str]) -> str:
    body = {
        "op": op.name,
        "version": op.version,
        "args": op.params.model_dump(mode="json"),
        "inputs": upstream_keys,
        "context": op.cache_context(),
    }
    return content_hash(body, 32)


class StepCache:
    ROWS, DROPPED, STATS = "rows.jsonl", "dropped.jsonl", "stats.json"

    def __init__(self, root: Path):
        self.root = Path(root)
        self.steps = self.root / "steps"
        self.steps.mkdir(parents=True, exist_ok=True)

    def path(self, key: str) -> Path:
        return self.steps / key

    def has(self, key: str) -> bool:
        return (self.path(key) / self.STATS).exists()

    def begin(self, key: str) -> Path:
        tmp = self.steps / f".tmp-{key}-{uuid.uuid4().hex[:8]}"
        tmp.mkdir(parents=True)
        return tmp

    def commit(self, tmp: Path, key: str) -> Path:
        final = self.path(key)
        if final.exists():  # another run finished the same work first: identical by construction
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            os.replace(tmp, final)
        return final

    def abort(self, tmp: Path) -> None:
        shutil.rmtree(tmp, ignore_errors=True)

    def read_stats(self, key: str) -> dict[str, Any]:
        return json.loads((self.path(key) / self.STATS).read_text())

    # Per-step statistics are kept by step key, apart from stage outputs: two recipes can reach the same cached
    # stage through steps with other ids, or with the chain cut into stages differently.
    def write_step_stats(self, key: str, stats: dict[str, Any]) -> None:
        d = self.root / "step_stats"
        d.mkdir(parents=True, exist_ok=True)
        tmp = d / f".{key}.{uuid.uuid4().hex[:8]}.tmp"
        tmp.write_text(json.dumps(stats))
        os.replace(tmp, d / f"{key}.json")

    def read_step_stats(self, key: str) -> dict[str, Any] | None:
        p = self.root / "step_stats" / f"{key}.json"
        return json.loads(p.read_text()) if p.exists() else None
