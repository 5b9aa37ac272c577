"""The operator registry: `@register` makes an op class available to recipes by name; `get_op` finds one (loading
every built-in op family first), `op_catalogue` describes them all for docs and the chef's prompt."""
from __future__ import annotations

import difflib
import importlib
import inspect
from typing import TYPE_CHECKING, Any

from ..errors import DatachefError

if TYPE_CHECKING:  # pragma: no cover
    from .base import Op

REGISTRY: dict[str, type["Op"]] = {}
# One module per family of operators; each registers its ops on import.
_MODULES = ["load", "filtering", "transform", "chat", "dedup", "dedup_near", "decontaminate", "quality", "language",
            "sampling", "llm"]
_loaded = False


def load_all() -> None:
    """Import every built-in op family (once), which registers its ops."""
    global _loaded
    if _loaded:
        return
    for m in _MODULES:
        importlib.import_module(f"{__package__}.{m}")
    _loaded = True


def register(cls: type["Op"]) -> type["Op"]:
    """Class decorator: make an operator available to recipes under `cls.name`."""
    if not inspect.getdoc(cls):
        raise TypeError(f"operator {cls.__name__} needs a docstring: the chef reads it")
    if cls.name in REGISTRY and REGISTRY[cls.name] is not cls:
        raise TypeError(f"operator name '{cls.name}' registered twice")
    REGISTRY[cls.name] = cls
    return cls


def get_op(name: str, *, step: str | None = None) -> type["Op"]:
    load_all()
    if name not in REGISTRY:
        close = difflib.get_close_matches(name, REGISTRY, n=3)
        hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        raise DatachefError(f"unknown op '{name}'{hint} (see `datachef ops`)", step=step)
    return REGISTRY[name]


def op_catalogue() -> list[dict[str, Any]]:
    """Name, kind, docstring and params JSON Schema of every op, for docs and the chef's prompt."""
    load_all()
    return [{"name": n, "kind": c.kind, "inputs": c.inputs, "requires": c.requires,
             "doc": inspect.getdoc(c), "params": c.Params.model_json_schema()}
            for n, c in sorted(REGISTRY.items())]
