"""Safe expressions over a row's fields, e.g. `len(solution) > 50 and '####' in solution`.

Recipes are untrusted (an LLM writes them), so expressions are parsed with `ast` and only a small whitelist of node
types, functions and string methods is allowed; attribute access is limited to those methods. Names are field names;
`row["field name"]` reaches fields that are not identifiers.
"""
from __future__ import annotations

import ast
import math
import re
from typing import Any, Callable

from ..errors import DatachefError

_FUNCS: dict[str, Callable[..., Any]] = {
    "len": len, "min": min, "max": max, "abs": abs, "int": int, "float": float, "str": str, "bool": bool,
    "round": round, "any": any, "all": all, "sum": sum, "sorted": sorted, "isinstance": None,  # replaced below
    "re_search": lambda pattern, text: re.search(pattern, text) is not None,
    "re_findall": lambda pattern, text: re.findall(pattern, text),
    "word_count": lambda text: len(str(text).split()),
    "is_number": lambda text: _is_number(text),
    "log": math.log,
}
del _FUNCS["isinstance"]

_METHODS = {
    "lower", "upper", "strip", "lstrip", "rstrip", "startswith", "endswith", "count", "split", "splitlines", "find",
    "replace", "isdigit", "isalpha", "isnumeric", "title", "join", "get", "keys", "values", "items",
}

_ALLOWED_NODES = (
    ast.Expression, ast.BoolOp, ast.And, ast.Or, ast.UnaryOp, ast.Not, ast.USub, ast.UAdd, ast.BinOp, ast.Add,
    ast.Sub, ast.Mult, ast.Div, ast.FloorDiv, ast.Mod, ast.Compare, ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt,
    ast.GtE, ast.In, ast.NotIn, ast.Is, ast.IsNot, ast.Call, ast.Name, ast.Load, ast.Constant, ast.Attribute,
    ast.Subscript, ast.Slice, ast.List, ast.Tuple, ast.IfExp, ast.keyword,
)

_NUMBER = re.compile(r"^\s*[-+]?\$?\s*\d[\d,]*(\.\d+)?\s*%?\s*$")


def _is_number(text: Any) -> bool:
    return isinstance(text, (int, float)) or bool(_NUMBER.match(str(text)))


class Expression:
    """A compiled safe expression. `fields` are the row fields it reads (checked by validation)."""

    def __init__(self, source: str, *, step: str | None = None, op: str | None = None):
        self.source = source
        try:
            tree = ast.parse(source, mode="eval")
        except SyntaxError as e:
            raise DatachefError(f"expression {source!r} is not valid: {e.msg}", step=step, op=op) from None
        self.fields: set[str] = set()
        for node in ast.walk(tree):
            if not isinstance(node, _ALLOWED_NODES):
                raise DatachefError(f"expression {source!r} uses {type(node).__name__}, which is not allowed",
                                    step=step, op=op)
            if isinstance(node, ast.Attribute) and node.attr not in _METHODS:
                raise DatachefError(f"expression {source!r}: attribute '.{node.attr}' is not allowed "
                                    f"(allowed methods: {', '.join(sorted(_METHODS))})", step=step, op=op)
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id not in _FUNCS:
                raise DatachefError(f"expression {source!r}: function '{node.func.id}' is not allowed "
                                    f"(allowed: {', '.join(sorted(_FUNCS))})", step=step, op=op)
            if isinstance(node, ast.Name) and node.id not in _FUNCS and node.id not in ("row", "True", "False", "None"):
                self.fields.add(node.id)
            if (isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name) and node.value.id == "row"
                    and isinstance(node.slice, ast.Constant) and isinstance(node.slice.value, str)):
                self.fields.add(node.slice.value)
        # Names that are functions only count as fields when not called.
        called = {n.func.id for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
        self.fields -= called
        self._code = compile(tree, "<expr>", "eval")

    def __call__(self, row: dict[str, Any]) -> Any:
        scope = dict(_FUNCS)
        scope.update(row)
        scope["row"] = row
        return eval(self._code, {"__builtins__": {}}, scope)  # noqa: S307 - AST whitelisted above
