"""The package's structure: every module imports on its own, imports form no cycle (function-local imports count:
they only hide a cycle until the day the import moves), arrows between packages point down the layers of
DESIGN.md, and no module grows past a size a newcomer can read."""
from __future__ import annotations

import ast
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import datachef

ROOT = Path(datachef.__file__).resolve().parent
MAX_MODULE_LINES = 600

# Lower layers never import higher ones; packages on one layer do not import each other.
LAYERS = {
    "errors": 0, "hashing": 0, "answers": 0, "memory": 0,
    "spec": 1,
    "io": 2,
    "llm": 3, "stages": 3,
    "sources": 4, "ops": 4,
    "engine": 5,
    "kit": 6, "verifier": 6, "report": 6, "kitchens": 6,
    "adapt": 7, "chef": 7, "pool": 7,
    "rl": 8, "cli_options": 8, "cli_pool": 8.5, "cli_rl": 8.5,
    "cli": 9,
}


def _modules() -> dict[str, Path]:
    out = {}
    for p in ROOT.rglob("*.py"):
        parts = list(p.relative_to(ROOT.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = p
    return out


MODULES = _modules()


def _type_checking_only(tree: ast.AST) -> set[int]:
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                skip.update(id(n) for n in ast.walk(child))
    return skip


def _imports(module: str) -> set[str]:
    """The package modules `module` imports anywhere in its body (module level or inside functions), except under
    `if TYPE_CHECKING:`."""
    path = MODULES[module]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip = _type_checking_only(tree)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package
            for _ in range(node.level - 1):
                base = base.rpartition(".")[0]
            target = (f"{base}.{node.module}" if node.module else base) if node.level else (node.module or "")
            targets = [f"{target}.{a.name}" if f"{target}.{a.name}" in MODULES else target for a in node.names]
        for t in targets:
            while t and t not in MODULES:  # a name inside a module: the module itself
                t = t.rpartition(".")[0]
            if t and t != module:
                found.add(t)
    return found


GRAPH = {m: _imports(m) for m in MODULES}


def _cycles() -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in GRAPH[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(GRAPH):
        if v not in index:
            visit(v)
    return found


def _layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "datachef"


def test_no_import_cycle_inside_the_package():
    assert _cycles() == []


def test_imports_point_down_the_layers():
    wrong = []
    for m, deps in GRAPH.items():
        a = _layer(m)
        for d in deps:
            b = _layer(d)
            if a == b or a == "datachef" or b == "datachef":
                continue
            assert a in LAYERS and b in LAYERS, f"add '{a}' or '{b}' to LAYERS (test_structure.py)"
            if LAYERS[a] <= LAYERS[b]:
                wrong.append(f"{m} -> {d}")
    assert wrong == []


def test_no_module_is_too_long():
    long = {m: n for m, p in MODULES.items() if (n := len(p.read_text(encoding="utf-8").splitlines()))
            > MAX_MODULE_LINES}
    assert long == {}


def test_the_checks_see_function_local_imports():
    # The cycle this test guards against was hidden by imports inside functions; make sure those are seen.
    assert "datachef.engine.python_recipe" in GRAPH["datachef.engine.run"]


def _import_alone(module: str) -> tuple[str, int, str]:
    proc = subprocess.run([sys.executable, "-c", f"import {module}"], capture_output=True, text=True, timeout=300)
    lines = proc.stderr.strip().splitlines()
    return module, proc.returncode, lines[-1] if lines else ""


def test_every_module_imports_in_a_fresh_interpreter():
    # Import order bugs (a module that only works when something else was imported first) show only this way.
    with ThreadPoolExecutor(max_workers=2) as pool:
        failed = [f"{m}: {err}" for m, rc, err in pool.map(_import_alone, sorted(MODULES)) if rc != 0]
    assert failed == []
