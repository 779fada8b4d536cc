"""The sandbox package's import graph has no cycle, lazy (in-function) imports included."""

from __future__ import annotations

import ast
from pathlib import Path

import codealign.sandbox

PACKAGE = "codealign.sandbox"
ROOT = Path(codealign.sandbox.__file__).parent


def _imports(path: Path) -> set[str]:
    """The modules of this package that `path` imports, anywhere in the file."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith(PACKAGE):
            if node.module == PACKAGE:   # from codealign.sandbox import perfinputs
                found |= {f"{PACKAGE}.{a.name}" for a in node.names if (ROOT / f"{a.name}.py").exists()}
            else:
                found.add(node.module)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith(PACKAGE + ".")}
    return found


def test_no_module_of_the_sandbox_imports_itself_back():
    graph = {f"{PACKAGE}.{p.stem}": _imports(p) for p in ROOT.glob("*.py") if p.stem != "__init__"}
    graph = {m: {d for d in deps if d in graph} for m, deps in graph.items()}
    state: dict[str, int] = {}          # 1: on the current path, 2: done

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for dep in sorted(graph[module]):
            assert state.get(dep) != 1, "import cycle: " + " -> ".join(path + [module, dep])
            if dep not in state:
                visit(dep, path + [module])
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [])
    assert f"{PACKAGE}.runner" not in graph[f"{PACKAGE}.perfinputs"]
