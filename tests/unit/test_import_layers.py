"""One-way layers: every import under mlnb/ (top-level and inside functions) against mlnb/layers.py.

Fails with one line per violation: an import that goes up the layer order, an import circle between
modules (with its path), a private name (``_x``) imported from another package, a module the table
has no place for. Read from the source with ``ast``; nothing is imported.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

from mlnb.layers import LAYERS, architecture_lines, layer_index

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "mlnb"


@dataclass(frozen=True)
class Import:
    importer: str
    imported: str  # the module imported, or the module a name is imported from
    name: str  # the name taken from it ("" for the module itself)
    line: int


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _imports(modules: dict[str, Path]) -> list[Import]:
    def owner(dotted: str) -> str:  # the longest module name that the dotted name starts with
        while dotted and dotted not in modules:
            dotted = dotted.rpartition(".")[0]
        return dotted

    found = []
    for module, path in modules.items():
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                found += [Import(module, owner(a.name), "", node.lineno) for a in node.names if a.name.split(".")[0] == "mlnb"]
            elif isinstance(node, ast.ImportFrom):
                if node.level:  # relative: from .x import y
                    base = package.split(".")[: len(package.split(".")) - node.level + 1]
                    source = ".".join(base + ([node.module] if node.module else []))
                else:
                    source = node.module or ""
                if source.split(".")[0] != "mlnb":
                    continue
                for alias in node.names:
                    submodule = f"{source}.{alias.name}"
                    if submodule in modules:  # from mlnb.pkg import module
                        found.append(Import(module, submodule, "", node.lineno))
                    else:
                        found.append(Import(module, owner(source), alias.name, node.lineno))
    return [i for i in found if i.imported and i.imported != i.importer]


MODULES = _modules()
IMPORTS = _imports(MODULES)


def _package(module: str) -> str:
    """mlnb.data.cnndm -> mlnb.data; a top-level module (mlnb.config) is a package of its own."""
    return ".".join(module.split(".")[:2])


def _cycles(edges: set[tuple[str, str]]) -> list[list[str]]:
    """One circle per strongly connected group of modules (Tarjan), as a path that returns to its start."""
    graph: dict[str, set[str]] = {}
    for a, b in edges:
        graph.setdefault(a, set()).add(b)
        graph.setdefault(b, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups: list[set[str]] = []

    def connect(v: str) -> None:  # recursion depth is bounded by the module count (~150)
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph[v]):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = set()
            while True:
                w = stack.pop()
                group.add(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(group)

    for v in sorted(graph):
        if v not in index:
            connect(v)
    circles = []
    for group in groups:  # shortest way from the group's first module back to itself, inside the group
        start = min(group)
        paths = {start: [start]}
        frontier = [start]
        circle = None
        while frontier and circle is None:
            nxt = []
            for v in frontier:
                for w in sorted(graph[v] & group):
                    if w == start:
                        circle = paths[v] + [start]
                        break
                    if w not in paths:
                        paths[w] = paths[v] + [w]
                        nxt.append(w)
                if circle:
                    break
            frontier = nxt
        circles.append(circle)
    return sorted(circles)


def test_every_module_has_a_layer():
    unplaced = [m for m in MODULES if layer_index(m) is None]
    assert not unplaced, "no layer in mlnb/layers.py for: " + ", ".join(unplaced)


def test_no_import_goes_up_the_layers():
    lines = set()
    for i in IMPORTS:
        low, high = layer_index(i.importer), layer_index(i.imported)
        if low is not None and high is not None and high > low:
            lines.add(f"{i.importer}:{i.line} imports {i.imported} "
                      f"(layer {LAYERS[low].name!r} may not import layer {LAYERS[high].name!r})")
    assert not lines, "imports against the layer order:\n" + "\n".join(sorted(lines))


def test_no_import_circles():
    edges = {(i.importer, i.imported) for i in IMPORTS}
    circles = _cycles(edges)
    assert not circles, "import circles:\n" + "\n".join(" -> ".join(c) for c in circles)


def test_no_private_name_is_imported_from_another_package():
    lines = sorted({
        f"{i.importer}:{i.line} imports private {i.name} from {i.imported}"
        for i in IMPORTS
        if i.name.startswith("_") and not i.name.startswith("__") and _package(i.importer) != _package(i.imported)
    })
    assert not lines, "private names across packages:\n" + "\n".join(lines)


def test_the_checks_see_lazy_and_relative_imports(tmp_path):
    # The parser is what the rules stand on: a function-level import and relative ones are all edges.
    module = tmp_path / "cnndm.py"
    module.write_text("def f():\n    from mlnb.cli import main\nfrom . import fileio\nfrom .config import _private\n")
    (tmp_path / "empty.py").write_text("")
    others = dict.fromkeys(("mlnb.cli", "mlnb.data.fileio", "mlnb.data.config"), tmp_path / "empty.py")
    got = {(i.importer, i.imported, i.name) for i in _imports({"mlnb.data.cnndm": module, **others})}
    assert got == {
        ("mlnb.data.cnndm", "mlnb.cli", "main"),
        ("mlnb.data.cnndm", "mlnb.data.fileio", ""),
        ("mlnb.data.cnndm", "mlnb.data.config", "_private"),
    }


def test_a_circle_is_reported_with_its_path():
    assert _cycles({("a", "b"), ("b", "c"), ("c", "a"), ("c", "d")}) == [["a", "b", "c", "a"]]
    assert _cycles({("a", "b"), ("b", "c")}) == []


def test_the_readme_lists_the_layers():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    missing = [line for line in architecture_lines() if line not in readme]
    assert not missing, "README.md's Architecture section should list (from mlnb/layers.py):\n" + "\n".join(missing)
