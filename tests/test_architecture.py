"""The house's import rules, read from the source (every import statement, at the top of a
module or inside a function): nothing below the command-line face imports `kanfair.cli`,
and no two modules import each other (a package and its own submodules aside)."""
from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "kanfair"


def module_names(root: Path = PACKAGE) -> dict[str, Path]:
    """kanfair's modules by dotted name (a package by its own name, for its __init__)."""
    names = {}
    for path in root.rglob("*.py"):
        parts = ("kanfair", *path.relative_to(root).with_suffix("").parts)
        names[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return names


def imports(path: Path, name: str, modules: set[str]) -> set[str]:
    """The kanfair modules that `path` imports: `from a.b import c` names module a.b.c when
    c is a module, else a.b; relative imports are resolved against `name`."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            for alias in node.names:
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base)
    return {module for module in found if module in modules}


def import_graph(root: Path = PACKAGE) -> dict[str, set[str]]:
    names = module_names(root)
    return {name: imports(path, name, set(names)) for name, path in names.items()}


def _package_and_own_submodule(a: str, b: str) -> bool:
    return b.startswith(a + ".") or a.startswith(b + ".")


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Groups of modules that reach each other through imports (strongly connected
    components of more than one module), leaving out a package's edges to its own
    submodules and theirs to it."""
    names = sorted(graph)
    index = {name: i for i, name in enumerate(names)}
    edges = [(index[a], index[b]) for a in names for b in graph[a]
             if not _package_and_own_submodule(a, b)]
    rows, cols = zip(*edges) if edges else ((), ())
    matrix = csr_matrix((np.ones(len(edges)), (rows, cols)), shape=(len(names), len(names)))
    _, labels = connected_components(matrix, directed=True, connection="strong")
    groups: dict[int, list[str]] = {}
    for name, label in zip(names, labels):
        groups.setdefault(label, []).append(name)
    return [group for group in groups.values() if len(group) > 1]


def test_nothing_below_the_command_line_imports_it():
    graph = import_graph()
    upward = {module: sorted(m for m in imported if m == "kanfair.cli" or m.startswith("kanfair.cli."))
              for module, imported in graph.items()
              if not (module == "kanfair.cli" or module.startswith("kanfair.cli."))}
    assert {module: found for module, found in upward.items() if found} == {}


def test_no_two_modules_import_each_other():
    assert import_cycles(import_graph()) == []


def test_the_walk_sees_imports_inside_functions_and_relative_ones(tmp_path):
    """The rule checks itself on a planted package: a cycle through an import inside a
    function and one through a relative import are both found; a package's import of its
    own submodule is not a cycle."""
    root = tmp_path / "kanfair"
    (root / "sub").mkdir(parents=True)
    (root / "__init__.py").write_text("")
    (root / "a.py").write_text("def f():\n    from kanfair import b\n")
    (root / "b.py").write_text("import kanfair.a\n")
    (root / "c.py").write_text("from .sub import d\n")
    (root / "sub" / "__init__.py").write_text("from kanfair.sub import d\n")
    (root / "sub" / "d.py").write_text("from ..c import x\nimport kanfair.sub\n")
    graph = import_graph(root)
    assert graph["kanfair.a"] == {"kanfair.b"} and graph["kanfair.c"] == {"kanfair.sub.d"}
    assert graph["kanfair.sub.d"] == {"kanfair.c", "kanfair.sub"}
    assert sorted(map(sorted, import_cycles(graph))) == [["kanfair.a", "kanfair.b"],
                                                          ["kanfair.c", "kanfair.sub.d"]]
