"""The operator library. Importing `datachef.ops` registers every built-in operator."""
from __future__ import annotations

import importlib

from .base import (META, REGISTRY, Drop, Emitter, FieldTypes, FilterOp, GlobalOp, MapOp, Op, OpContext, OpParams,
                   RecordOp, Row, RowStream, SourceOp, get_op, op_catalogue, register)

# One module per family of operators; each registers its ops on import.
_MODULES = ["load", "filtering", "transform", "chat", "dedup", "dedup_near", "decontaminate", "quality", "language",
            "sampling", "llm"]
_loaded = False


def load_all() -> None:
    global _loaded
    if _loaded:
        return
    for m in _MODULES:
        importlib.import_module(f"{__name__}.{m}")
    _loaded = True


__all__ = ["META", "REGISTRY", "Drop", "Emitter", "FieldTypes", "FilterOp", "GlobalOp", "MapOp", "Op", "OpContext",
           "OpParams", "RecordOp", "Row", "RowStream", "SourceOp", "get_op", "load_all", "op_catalogue", "register"]
