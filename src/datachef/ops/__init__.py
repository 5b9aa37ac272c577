"""The operator library: base classes (`base`), the registry (`registry`) and one module per family of operators.
`get_op` / `load_all` register every built-in operator on first use."""
from __future__ import annotations

from .base import (META, Drop, Emitter, FieldTypes, FilterOp, GlobalOp, MapOp, Op, OpContext, OpParams, RecordOp,
                   Row, RowStream, SourceOp)
from .registry import REGISTRY, get_op, load_all, op_catalogue, register

__all__ = ["META", "REGISTRY", "Drop", "Emitter", "FieldTypes", "FilterOp", "GlobalOp", "MapOp", "Op", "OpContext",
           "OpParams", "RecordOp", "Row", "RowStream", "SourceOp", "get_op", "load_all", "op_catalogue", "register"]
