"""The package's modules import each other without a cycle, so each can be read and tested from below.

Every import statement counts, those inside functions and under TYPE_CHECKING too: an import moved
into a function to dodge a cycle still ties the two modules together. Importing `a.b.c` also runs
the packages `a.b` and `a` above it, so a module depends on those `__init__`s as well (except its own
package's, which Python has already started when it reaches the module).
"""

from __future__ import annotations

import ast
from pathlib import Path

import cbam_bench

ROOT = Path(cbam_bench.__file__).parent


def module_files(root: Path = ROOT) -> dict[str, Path]:
    """Dotted module name -> file, for every .py file of the package (a package is its __init__)."""
    out = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _targets(node: ast.Import | ast.ImportFrom, module: str, is_package: bool, files: dict[str, Path]) -> set[str]:
    """The package modules one import statement names: `from m import n` is m.n when that is a module, else m."""
    if isinstance(node, ast.Import):
        return {alias.name for alias in node.names if alias.name in files}
    source = node.module or ""
    if node.level:
        base = module.split(".") if is_package else module.split(".")[:-1]
        source = ".".join([*base[: len(base) - node.level + 1], *([source] if source else [])])
    named = {f"{source}.{alias.name}" for alias in node.names}
    return {name if name in files else source for name in named} & set(files)


def import_graph(files: dict[str, Path]) -> dict[str, set[str]]:
    """Module -> the package modules it imports, with the packages that importing them runs."""
    graph: dict[str, set[str]] = {}
    for module, path in files.items():
        is_package = path.name == "__init__.py"
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                targets |= _targets(node, module, is_package, files)
        for target in list(targets):
            parts = target.split(".")
            targets.update(
                p
                for p in (".".join(parts[:i]) for i in range(1, len(parts)))
                if p in files and not module.startswith(p + ".")
            )
        targets.discard(module)
        graph[module] = targets
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle as a path [a, b, ..., a], or None (depth-first search, colouring nodes)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt) :] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start)):
            return found
    return None


def test_cbam_bench_modules_import_without_a_cycle() -> None:
    cycle = find_cycle(import_graph(module_files()))
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_the_walker_sees_lazy_type_checking_and_package_imports(tmp_path: Path) -> None:
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "low.py").write_text("def f():\n    from pkg.sub import high\n")
    (pkg / "sub" / "__init__.py").write_text("from pkg.sub.high import g\n")
    (pkg / "sub" / "high.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg import low\n"
    )
    (pkg / "plain.py").write_text("from . import low\nimport pkg.sub.high\n")
    graph = import_graph(module_files(pkg))
    assert graph == {
        "pkg": set(),
        "pkg.low": {"pkg.sub.high", "pkg.sub"},
        "pkg.sub": {"pkg.sub.high"},
        "pkg.sub.high": {"pkg.low"},
        "pkg.plain": {"pkg.low", "pkg.sub.high", "pkg.sub"},
    }
    assert find_cycle(graph) == ["pkg.low", "pkg.sub", "pkg.sub.high", "pkg.low"]
    del graph["pkg.sub.high"]
    assert find_cycle(graph) is None
