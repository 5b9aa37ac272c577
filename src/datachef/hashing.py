"""Content hashes: one canonical JSON form, so that every key (step cache, Python-recipe cache, recipe hash, LLM
request cache, stage fingerprints) hashes the same value the same way. Standard library only: `spec` uses it."""
from __future__ import annotations

import hashlib
import json
from typing import Any


def canonical_json(obj: Any) -> bytes:
    """Key order sorted; values JSON cannot hold (paths, enums, ...) as their str()."""
    return json.dumps(obj, sort_keys=True, default=str).encode()


def content_hash(obj: Any, length: int | None = None) -> str:
    """sha256 of `obj`'s canonical JSON, hex, cut to `length` characters when given."""
    digest = hashlib.sha256(canonical_json(obj)).hexdigest()
    return digest[:length] if length else digest
