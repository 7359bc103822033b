"""The package's imports point one way: from a layer only down to lower ones, and never in a circle.

Every module of ``sketch2shape/`` is parsed with ``ast``; every import counts, at module level and
inside functions (an import hidden in a function is still a dependency, only a late one). Layers,
lowest first (a module may import its own layer and any lower one; layers of the same rank are
siblings and do not import each other):

====  =======================  =============================================================
rank  layer                    what it is
====  =======================  =============================================================
0     ``sketch2shape``         the package root (``__version__``)
1     utils, pretrained        I/O, devices, Hydra entry and config helpers, the sketch ink and
                               paper values; the release files
2     render, mesh, metrics    cameras, ray casting, sphere tracing, sketches; marching cubes;
                               chamfer / F-score, Recall@k / hit@k and the retrieval index
3     data, viz                datasets, preprocessing (renders normal maps and sketches);
                               pictures of results (top-level helper, draws with render)
4     models                   networks, LightningModules and their loaders, callbacks, trainer
5     optimize                 latent optimization and the reconstruction commands
6     eval, app, report        evaluations; the browser app; the demo's report (top-level
                               helper of the ``sketch2shape`` command)
7     tasks                    the Hydra tasks (``sketch2shape <task>``, ``scripts/*.py``)
8     cli                      the ``sketch2shape`` command
9     __main__                 ``python -m sketch2shape``
====  =======================  =============================================================

A new subpackage or top-level module must be added to :data:`LAYERS` (the test says so).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE = "sketch2shape"
PACKAGE_DIR = Path(__file__).resolve().parents[1] / PACKAGE

LAYERS: dict[str, int] = {
    PACKAGE: 0,
    "utils": 1,
    "pretrained": 1,
    "render": 2,
    "mesh": 2,
    "metrics": 2,
    "data": 3,
    "viz": 3,
    "models": 4,
    "optimize": 5,
    "eval": 6,
    "app": 6,
    "report": 6,
    "tasks": 7,
    "cli": 8,
    "__main__": 9,
}


@dataclass(frozen=True)
class Import:
    source: str  # importing module
    target: str  # imported module of the package
    path: Path
    line: int

    def where(self) -> str:
        """``sketch2shape/<path>:<line>``."""
        parts = self.path.parts
        start = len(parts) - 1 - parts[::-1].index(PACKAGE) if PACKAGE in parts[:-1] else 0
        return f"{Path(*parts[start:]).as_posix()}:{self.line}"


def package_modules(root: Path = PACKAGE_DIR) -> dict[str, Path]:
    """Dotted module name -> file, for every ``.py`` file of the package (packages by ``__init__``)."""
    modules = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    """The module of the package that ``name`` (a module or a name inside one) lives in."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def imports_of(module: str, path: Path, modules: dict[str, Path]) -> list[Import]:
    """Every import of a package module by ``module``, module level and in functions alike."""
    tree = ast.parse(path.read_text(), filename=str(path))
    is_package = path.name == "__init__.py"
    found: list[Import] = []
    for node in ast.walk(tree):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".") if is_package else module.split(".")[:-1]
                base = base[: len(base) - node.level + 1]
                origin = ".".join(base + ([node.module] if node.module else []))
            else:
                origin = node.module or ""
            # `from pkg import submodule` imports the submodule; `from module import name` the module.
            targets = [f"{origin}.{a.name}" if f"{origin}.{a.name}" in modules else origin for a in node.names]
        for name in dict.fromkeys(targets):
            if name != PACKAGE and not name.startswith(PACKAGE + "."):
                continue
            target = _resolve(name, modules)
            edge = Import(module, target, path, node.lineno) if target and target != module else None
            if edge and edge not in found:
                found.append(edge)
    return found


def layer_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def all_imports() -> tuple[dict[str, Path], list[Import]]:
    modules = package_modules()
    edges = [edge for module, path in modules.items() for edge in imports_of(module, path, modules)]
    return modules, edges


def upward(edges: list[Import]) -> list[str]:
    """One line per import that does not go down (or stay within its layer)."""
    bad = []
    for edge in edges:
        src, dst = layer_of(edge.source), layer_of(edge.target)
        if src == dst or LAYERS[dst] < LAYERS[src]:
            continue
        kind = "upward" if LAYERS[dst] > LAYERS[src] else "sideways (sibling layers)"
        bad.append(f"{edge.where()}: {edge.source} ({src}, rank {LAYERS[src]}) imports {edge.target} ({dst}, rank {LAYERS[dst]}): {kind}")
    return bad


def cycles(edges: list[Import]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    graph: dict[str, set[str]] = {}
    for edge in edges:
        graph.setdefault(edge.source, set()).add(edge.target)
        graph.setdefault(edge.target, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0

    def visit(start: str) -> None:  # iterative, so deep graphs need no recursion limit
        nonlocal counter
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_every_module_is_in_a_layer():
    modules = package_modules()
    assert modules, f"no modules found under {PACKAGE_DIR}"
    missing = sorted({layer_of(m) for m in modules} - set(LAYERS))
    assert not missing, f"{missing} of {PACKAGE}/ are in no layer: add them to LAYERS in {Path(__file__).name} (and the module docstring)"


def test_no_import_goes_up():
    _, edges = all_imports()
    assert edges, "no imports found: the parser is broken"
    bad = upward(edges)
    assert not bad, "imports against the layers (lowest first: " + " < ".join(
        f"{rank}: {'/'.join(sorted(n for n, r in LAYERS.items() if r == rank))}" for rank in sorted(set(LAYERS.values()))
    ) + "):\n" + "\n".join(bad)


def test_no_import_cycles():
    _, edges = all_imports()
    found = cycles(edges)
    lines = []
    for component in found:
        members = set(component)
        lines.append("cycle among " + ", ".join(component) + ":")
        lines += [f"  {e.where()}: {e.source} imports {e.target}" for e in edges if e.source in members and e.target in members]
    assert not found, "\n".join(lines)


# --- the checker itself ---------------------------------------------------------------------------
def _fake_package(tmp_path: Path, files: dict[str, str]) -> tuple[dict[str, Path], list[Import]]:
    """A package ``sketch2shape`` of ``files`` (path -> text) under ``tmp_path``: its modules and imports."""
    root = tmp_path / PACKAGE
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    modules = package_modules(root)
    return modules, [e for m, p in modules.items() for e in imports_of(m, p, modules)]


def test_the_checker_sees_function_level_relative_and_from_package_imports(tmp_path):
    _, edges = _fake_package(tmp_path, {
        "__init__.py": "",
        "data/__init__.py": "",
        "data/a.py": "def f():\n    from sketch2shape.models.b import g\n",
        "models/__init__.py": "",
        "models/b.py": "from . import c\nfrom sketch2shape.models import d\n",
        "models/c.py": "import sketch2shape.models.b\n",
        "models/d.py": "from .c import thing\nimport numpy\n",
    })
    assert {(e.source, e.target) for e in edges} == {
        ("sketch2shape.data.a", "sketch2shape.models.b"),
        ("sketch2shape.models.b", "sketch2shape.models.c"),
        ("sketch2shape.models.b", "sketch2shape.models.d"),
        ("sketch2shape.models.c", "sketch2shape.models.b"),
        ("sketch2shape.models.d", "sketch2shape.models.c"),
    }
    assert upward(edges) == [
        "sketch2shape/data/a.py:2: sketch2shape.data.a (data, rank 3) imports sketch2shape.models.b (models, rank 4): upward"
    ]
    assert cycles(edges) == [["sketch2shape.models.b", "sketch2shape.models.c", "sketch2shape.models.d"]]


@pytest.mark.parametrize(("source", "target", "ok"), [
    ("sketch2shape.optimize.x", "sketch2shape.metrics.y", True),
    ("sketch2shape.metrics.y", "sketch2shape.optimize.x", False),
    ("sketch2shape.data.x", "sketch2shape.viz", False),  # siblings
    ("sketch2shape.cli", "sketch2shape.report", True),
    ("sketch2shape.utils.x", "sketch2shape", True),
])
def test_layer_rule(source, target, ok):
    edge = Import(source, target, PACKAGE_DIR / "x.py", 1)
    assert (upward([edge]) == []) is ok
