"""Whole-corpus checks: every record of a corpus, not only the graded sample, is read once, streaming, and checked
for what a sample of 100 misses — 30 planted held-out items in 10,000 records are almost never sampled, yet the
corpus is contaminated:

- exact duplicates: the same roles and contents (case and spacing ignored) as an earlier record (one 64-bit hash per
  distinct record);
- near duplicates: the `dedup_near` op's MinHash LSH over word 5-grams of the whole conversation, Jaccard ≥ the
  threshold (a few dozen bytes per record, on disk while it runs); the verifier leaves out the 5-grams that the
  benchmark's own items share (`DedupNear.ignored`), so problems written in a generator's template are compared
  by what differs;
- leaks: the contamination gate's rule (`Gates.contamination`) on every record.

Memory is O(records) with a small constant whatever the texts' length; the sampled records are read again in a
second pass, so no record is held in memory. `VerifierConfig` decides which checks run.
"""
from __future__ import annotations

import json
import tempfile
import time
from array import array
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import xxhash

from ..spec.record import chat_problem
from .gates import duplicate_key

MAX_LISTED_MALFORMED = 20
LeakCheck = Callable[[list[dict[str, Any]]], str | None]  # messages -> what it leaks, or None


@dataclass
class CorpusScan:
    """What the streaming pass found. Records are numbered among the well-formed ones (`good`); `line_of[k]` is
    record k's index among the corpus's non-blank lines (the index verify.json reports)."""

    total: int = 0  # non-blank lines
    line_of: array = field(default_factory=lambda: array("l"))
    malformed: list[dict[str, Any]] = field(default_factory=list)  # the first MAX_LISTED_MALFORMED, {line, error}
    malformed_count: int = 0
    duplicate_of: dict[int, int] = field(default_factory=dict)  # record -> earlier record it copies exactly
    near_duplicate_of: dict[int, int] = field(default_factory=dict)  # record -> earliest of its near-copy cluster
    leaks: dict[int, str] = field(default_factory=dict)  # record -> what benchmark item it reproduces
    seconds: float = 0.0
    near_check: str = "on"  # or why the near-copy check was left off

    @property
    def good(self) -> int:
        return len(self.line_of)

    def flagged(self, k: int) -> bool:
        """Record k counts as Invalid whatever its content: a copy of an earlier record, or a benchmark leak."""
        return k in self.duplicate_of or k in self.near_duplicate_of or k in self.leaks

    def fractions(self) -> dict[str, float]:
        n = max(1, self.good)
        flagged = set(self.duplicate_of) | set(self.near_duplicate_of) | set(self.leaks)
        return {"leak_fraction": len(self.leaks) / n, "duplicate_fraction": len(self.duplicate_of) / n,
                "near_duplicate_fraction": len(self.near_duplicate_of) / n, "flagged_fraction": len(flagged) / n}

    def summary(self) -> dict[str, Any]:
        """What verify.json reports: counts, fractions, a few examples of each finding."""
        return {"records": self.good, **{k: round(v, 6) for k, v in self.fractions().items()},
                "leaks": len(self.leaks), "duplicates": len(self.duplicate_of),
                "near_duplicates": len(self.near_duplicate_of), "near_duplicate_check": self.near_check,
                "seconds": round(self.seconds, 3),
                "examples": {
                    "leak": [{"record": int(self.line_of[k]), "detail": d} for k, d in list(self.leaks.items())[:5]],
                    "duplicate": [{"record": int(self.line_of[k]), "of": int(self.line_of[j])}
                                  for k, j in list(self.duplicate_of.items())[:5]],
                    "near_duplicate": [{"record": int(self.line_of[k]), "of": int(self.line_of[j])}
                                       for k, j in list(self.near_duplicate_of.items())[:5]]}}


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    """(1-based line number, line) of the non-blank lines."""
    with open(path, encoding="utf-8", errors="replace") as f:
        for line_no, line in enumerate(f, 1):
            if line.strip():
                yield line_no, line


def _parse(line: str) -> tuple[dict[str, Any] | None, str | None]:
    """(record, None) for a well-formed chat record, else (None, why). Any chat counts; which roles it has and in
    what order is the chat_format gate's call."""
    try:
        rec = json.loads(line)
    except json.JSONDecodeError as e:
        return None, f"not JSON: {e.msg}"
    if not isinstance(rec, dict):
        return None, "not a JSON object"
    if "messages" not in rec:
        return None, f"no 'messages' list (keys: {', '.join(list(rec)[:8])})"
    problem = chat_problem(rec["messages"], require=())
    return (None, problem) if problem else (rec, None)


def scan_corpus(path: str | Path, *, exact: bool = True, near: Any = None, leak: LeakCheck | None = None,
                workdir: str | Path | None = None) -> CorpusScan:
    """One streaming pass over `path` (a data.jsonl). `near`: a set-up `DedupNear` op, or None for no near-duplicate
    check; `leak`: the per-record leak check, or None."""
    t0 = time.perf_counter()
    scan = CorpusScan()
    seen: dict[int, int] = {}  # exact key hash -> first record with it

    def good_records() -> Iterator[dict[str, Any]]:
        for line_no, line in _lines(Path(path)):
            scan.total += 1
            rec, problem = _parse(line)
            if rec is None:
                scan.malformed_count += 1
                if len(scan.malformed) < MAX_LISTED_MALFORMED:
                    scan.malformed.append({"line": line_no, "error": problem})
                continue
            k = scan.good
            scan.line_of.append(scan.total - 1)
            msgs = rec["messages"]
            if exact:
                h = xxhash.xxh64_intdigest(duplicate_key(msgs).encode())
                if h in seen:
                    scan.duplicate_of[k] = seen[h]
                else:
                    seen[h] = k
            if leak is not None:
                found = leak(msgs)
                if found:
                    scan.leaks[k] = found
            yield {"messages": msgs}

    if near is None:
        for _ in good_records():
            pass
    else:
        with tempfile.TemporaryDirectory(dir=workdir, prefix="datachef-verify-") as tmp:
            near.ctx.workdir = Path(tmp)
            parent, n = near.clusters(good_records())
        from ..ops.dedup_near import cluster_root

        for k in range(n):
            root = cluster_root(parent, k)
            if root != k and k not in scan.duplicate_of:  # an exact copy is reported as such
                scan.near_duplicate_of[k] = root
    scan.seconds = time.perf_counter() - t0
    return scan


def read_records(path: str | Path, wanted: set[int]) -> dict[int, dict[str, Any]]:
    """The well-formed records numbered `wanted` (numbering as in `scan_corpus`), in a second streaming pass."""
    out: dict[int, dict[str, Any]] = {}
    k = 0
    for _, line in _lines(Path(path)):
        if len(out) == len(wanted):
            break
        rec, _problem = _parse(line)
        if rec is None:
            continue
        if k in wanted:
            out[k] = rec
        k += 1
    return out
