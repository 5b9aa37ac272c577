"""Corpus exporters: the chat records in the formats training stacks expect.

- messages (default): {"messages": [...], "meta": {...}}  (OpenAI / TRL conversational format)
- sharegpt: {"conversations": [{"from": "system"|"human"|"gpt", "value": ...}], "meta": ...}
- alpaca:   {"instruction", "input": "", "output", "system"?, "history": [[user, assistant], ...], "meta"}
            (the last user/assistant pair is instruction/output; earlier pairs go to history, as LLaMA-Factory reads it)
- dialogs:  {"dialogs": [{"role", "content"}, ...], "meta": ...}  (the DataChef paper's training-data form)
- parquet:  data.parquet with columns messages (list<struct<role, content>>) and meta (JSON text)
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, Iterable

import orjson

from ..io import atomic_open

FORMATS = ("messages", "sharegpt", "alpaca", "dialogs", "parquet")
_SHAREGPT_ROLE = {"system": "system", "user": "human", "assistant": "gpt"}


def to_sharegpt(rec: dict[str, Any]) -> dict[str, Any]:
    return {"conversations": [{"from": _SHAREGPT_ROLE[m["role"]], "value": m["content"]} for m in rec["messages"]],
            "meta": rec["meta"]}


def to_alpaca(rec: dict[str, Any]) -> dict[str, Any]:
    msgs = rec["messages"]
    system = next((m["content"] for m in msgs if m["role"] == "system"), None)
    turns = [m for m in msgs if m["role"] != "system"]
    pairs = [(turns[i]["content"], turns[i + 1]["content"]) for i in range(0, len(turns) - 1, 2)]
    out: dict[str, Any] = {"instruction": pairs[-1][0], "input": "", "output": pairs[-1][1]}
    if system:
        out["system"] = system
    out["history"] = [list(p) for p in pairs[:-1]]
    out["meta"] = rec["meta"]
    return out


def to_dialogs(rec: dict[str, Any]) -> dict[str, Any]:
    return {"dialogs": rec["messages"], "meta": rec["meta"]}


CONVERTERS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "messages": lambda r: r, "sharegpt": to_sharegpt, "alpaca": to_alpaca, "dialogs": to_dialogs,
}


def output_filename(fmt: str) -> str:
    return "data.parquet" if fmt == "parquet" else "data.jsonl"


def write_records(records: Iterable[dict[str, Any]], path: Path, fmt: str) -> int:
    """Write records atomically in `fmt`; return how many were written."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format '{fmt}' (choose from {', '.join(FORMATS)})")
    if fmt == "parquet":
        return _write_parquet(records, path)
    convert = CONVERTERS[fmt]
    n = 0
    with atomic_open(path, "wb") as f:
        for rec in records:
            f.write(orjson.dumps(convert(rec)) + b"\n")
            n += 1
    return n


def _write_parquet(records: Iterable[dict[str, Any]], path: Path, batch: int = 10_000) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema([
        ("messages", pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))),
        ("meta", pa.string()),
    ])
    n = 0
    with atomic_open(path, "wb") as f:
        writer = pq.ParquetWriter(f, schema)
        buf: list[dict[str, Any]] = []

        def flush() -> None:
            if buf:
                writer.write_table(pa.Table.from_pylist(buf, schema=schema))
                buf.clear()

        for rec in records:
            buf.append({"messages": rec["messages"], "meta": json.dumps(rec["meta"], ensure_ascii=False)})
            n += 1
            if len(buf) >= batch:
                flush()
        flush()
        writer.close()
    return n
