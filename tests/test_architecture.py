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


def root_importers(graph: dict[str, set[str]]) -> list[str]:
    """The modules below the package root that import the root itself."""
    return sorted(module for module, imported in graph.items() if module != "kanfair" and "kanfair" in imported)


def test_nothing_below_the_package_root_imports_the_root():
    """The root (`kanfair/__init__.py`) is the public face; a module below it that imports
    it reaches back up (the version lives in kanfair.version)."""
    assert root_importers(import_graph()) == []


WINGS = {"kanfair.report": ("kanfair.studies", "kanfair.cli"), "kanfair.studies": ("kanfair.cli",)}


def wing_violations(graph: dict[str, set[str]]) -> dict[str, list[str]]:
    """Reports never import studies or the command line; studies never the command line."""
    found = {}
    for module, imported in graph.items():
        for wing, forbidden in WINGS.items():
            if module == wing or module.startswith(wing + "."):
                bad = sorted(m for m in imported for f in forbidden if m == f or m.startswith(f + "."))
                if bad:
                    found[module] = bad
    return found


def test_reports_import_no_study_and_studies_no_command_line():
    assert wing_violations(import_graph()) == {}


def private_imports(path: Path, modules: set[str]) -> list[str]:
    """`from kanfair.x import _name`, and `x._name` where x was imported as a kanfair module:
    a reach into another module's private names (dunders aside)."""
    private = lambda name: name.startswith("_") and not name.startswith("__")  # noqa: E731
    tree = ast.parse(path.read_text(), str(path))
    module_aliases, found = set(), []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("kanfair"):
            for alias in node.names:
                if private(alias.name):
                    found.append(f"{node.module}.{alias.name}")
                elif f"{node.module}.{alias.name}" in modules:
                    module_aliases.add(alias.asname or alias.name)
        elif isinstance(node, ast.Import):
            module_aliases.update(a.asname for a in node.names if a.asname and a.name in modules)
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                and node.value.id in module_aliases and private(node.attr)):
            found.append(f"{node.value.id}.{node.attr}")
    return found


def test_no_module_imports_another_modules_private_names():
    """kanfair's modules and scripts use each other's public names only (the tests are
    white-box and may reach in)."""
    modules = set(module_names())
    paths = [*PACKAGE.rglob("*.py"), *(PACKAGE.parents[1] / "scripts").glob("*.py")]
    found = {str(path.relative_to(PACKAGE.parents[1])): hits for path in paths
             if (hits := private_imports(path, modules))}
    assert found == {}


def test_the_wing_and_root_rules_catch_planted_imports(tmp_path):
    """Planted: kanfair.report importing kanfair.studies, runner importing the root, and a
    module importing another's private name: each rule names it."""
    root = tmp_path / "kanfair"
    for package in ("report", "studies"):
        (root / package).mkdir(parents=True)
        (root / package / "__init__.py").write_text("")
    (root / "__init__.py").write_text("")
    (root / "report" / "tables.py").write_text("from kanfair.studies import tune\n")
    (root / "studies" / "tune.py").write_text("from kanfair import trainer\nx = trainer._setup\n")
    (root / "runner.py").write_text("import kanfair\nfrom kanfair.trainer import _train_epoch\n")
    (root / "trainer.py").write_text("def _setup(): pass\ndef _train_epoch(): pass\n")
    graph = import_graph(root)
    assert wing_violations(graph) == {"kanfair.report.tables": ["kanfair.studies.tune"]}
    assert root_importers(graph) == ["kanfair.runner"]
    modules = set(module_names(root))
    assert private_imports(root / "runner.py", modules) == ["kanfair.trainer._train_epoch"]
    assert private_imports(root / "studies" / "tune.py", modules) == ["trainer._setup"]
