"""House rules that keep the code readable, checked so they cannot drift: every library
function at most 60 lines, every script at most 80, the analysis package in named rooms, and
no module that imports, through any chain, one that imports it back."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MAX_FUNCTION, MAX_SCRIPT = 60, 80


def long_functions(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            first = node.decorator_list[0].lineno if node.decorator_list else node.lineno
            if node.end_lineno - first + 1 > MAX_FUNCTION:
                found.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name}")
    return found


def test_library_functions_are_short():
    found = [f for pkg in ("othello", "probes") for p in (ROOT / pkg).rglob("*.py")
             for f in long_functions(p)]  # fmt: skip
    assert not found, f"functions over {MAX_FUNCTION} lines: {found}"


def test_scripts_are_thin():
    found = [p.name for p in (ROOT / "scripts").glob("*.py")
             if len(p.read_text().splitlines()) > MAX_SCRIPT]  # fmt: skip
    assert not found, f"scripts over {MAX_SCRIPT} lines: {found}"


def test_the_analysis_package_has_its_rooms():
    rooms = {p.name for p in (ROOT / "probes").iterdir() if (p / "__init__.py").exists()}
    assert {"acts", "interventions", "sae", "explorer", "report"} <= rooms
    assert not (ROOT / "othello" / "cache.py").exists()  # the activation file lives in acts/


def test_the_world_package_has_its_rooms():
    rooms = {p.name for p in (ROOT / "othello").iterdir() if (p / "__init__.py").exists()}
    assert {"common", "world", "corpora", "model", "training", "interop"} <= rooms
    flat = sorted(p.name for p in (ROOT / "othello").glob("*.py") if p.name != "__init__.py")
    assert not flat, f"modules outside a room: {flat}"


HOOK_OWNER = ROOT / "othello" / "model" / "hooks.py"
HOOK_NAME = re.compile(r"blocks\.|hook_(embed|pos_embed|resid|attn|mlp|z|pattern|post)")


def built_hook_names(path: Path) -> list[str]:
    """String literals and f-strings in code (not docstrings) that spell a block name."""
    found = []
    tree = ast.parse(path.read_text())
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.FunctionDef | ast.ClassDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    for node in ast.walk(tree):
        text = node.value if isinstance(node, ast.Constant) else None
        if isinstance(text, str) and id(node) not in docstrings and HOOK_NAME.match(text):
            found.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.value!r}")
    return found


def test_hook_names_are_built_in_one_module():
    found = [f for pkg in ("othello", "probes", "scripts", "benchmarks")
             for p in (ROOT / pkg).rglob("*.py") if p != HOOK_OWNER
             for f in built_hook_names(p)]  # fmt: skip
    assert not found, f"hook names spelled outside othello/model/hooks.py: {found}"


MAX_CLASS = 150


def long_classes(path: Path) -> list[str]:
    """Classes over MAX_CLASS lines, counted as long_functions counts (decorators included)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ClassDef):
            first = node.decorator_list[0].lineno if node.decorator_list else node.lineno
            if node.end_lineno - first + 1 > MAX_CLASS:
                found.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name}")
    return found


def test_library_classes_are_short():
    found = [f for pkg in ("othello", "probes") for p in (ROOT / pkg).rglob("*.py")
             for f in long_classes(p)]  # fmt: skip
    assert not found, f"classes over {MAX_CLASS} lines: {found}"


def room(module: str) -> str:
    """A module's room: its first two dotted components when the second is a package
    (``probes.interventions``, ``othello.world``), else the top package (``probes.fit`` lives
    in the room ``probes``)."""
    parts = module.split(".")
    if len(parts) > 1 and (ROOT / parts[0] / parts[1] / "__init__.py").exists():
        return ".".join(parts[:2])
    return parts[0]


def imported_modules(tree: ast.Module, package: str = "") -> list[tuple[int, str]]:
    """(line, dotted name) of every import at any depth, ``if TYPE_CHECKING:`` ones included
    (they make a cycle for whoever reads the code, and for any tool that runs them). A relative
    import is resolved against ``package`` (the package that holds the module, or the package
    an ``__init__`` is); ``from m import a`` gives ``m`` and ``m.a`` (a module or a name in
    ``m``)."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            found.append((node.lineno, base))
            found += [(node.lineno, f"{base}.{alias.name}") for alias in node.names]
    return found


def module_files(
    root: Path = ROOT, packages: tuple[str, ...] = ("othello", "probes")
) -> dict[str, Path]:
    """{dotted module name: path} of every module under ``packages`` (a package by its
    ``__init__.py``)."""
    found = {}
    for pkg in packages:
        for path in sorted((root / pkg).rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def package_of(name: str, path: Path) -> str:
    """The package a module's relative imports start from."""
    return name if path.name == "__init__.py" else name.rpartition(".")[0]


def lazy_exports_of(tree: ast.Module, modules: dict) -> set[str]:
    """The modules an ``__init__`` names in strings: its lazy-export table (PEP 562), whose
    modules are imported when their name is first asked for."""
    return {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and n.value in modules}


def import_graph(
    root: Path = ROOT, packages: tuple[str, ...] = ("othello", "probes")
) -> dict[str, set[str]]:
    """{module: the modules importing it runs}, over the static imports of ``packages``.

    An imported name counts as the longest module that prefixes it (``m.f`` -> ``m``; ``from
    a.b import c`` names ``a.b`` too), and as every package above that module (``import a.b.c``
    runs ``a`` and ``a.b`` first) except the importer's own packages, which ran before it did
    (counted, every module that a package's lazy-export table names would close a cycle with
    it). A package's lazy-export table counts as imports."""
    modules = module_files(root, packages)
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text())
        ours = {".".join(name.split(".")[:i]) for i in range(1, name.count(".") + 2)}
        targets = {m for _, n in imported_modules(tree, package_of(name, path))
                   if (m := longest_module(n, modules))}  # fmt: skip
        if path.name == "__init__.py":
            targets |= lazy_exports_of(tree, modules)
        above = {".".join(t.split(".")[:i]) for t in targets for i in range(1, t.count(".") + 1)}
        graph[name] = (targets | (above - ours)) - {name}
    return graph


def longest_module(name: str, modules: dict) -> str | None:
    """The module an imported name lives in (None: not one of ours)."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted: every
    module of one imports every other, directly or through the rest."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = stack[stack.index(v) :]
            del stack[stack.index(v) :]
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(cycles)


def test_no_module_imports_one_that_imports_it_back():
    cycles = import_cycles(import_graph())
    assert not cycles, f"modules that import each other (directly or through others): {cycles}"


def test_the_cycle_finder_finds_a_cycle_and_not_a_chain():
    ring = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": {"e"}}
    assert import_cycles(ring) == [["a", "b", "c"]]
    assert import_cycles({"a": {"b"}, "b": {"c"}, "c": set(), "d": {"a", "c"}}) == []


def test_the_import_graph_counts_relative_type_checking_parent_and_lazy_imports(tmp_path):
    files = {
        "pkg/__init__.py": '_EXPORTS = {"f": "pkg.a"}',
        "pkg/a.py": "if TYPE_CHECKING:\n    from .sub.b import B",
        "pkg/sub/__init__.py": "def f():\n    from pkg import f",
        "pkg/sub/b.py": "import pkg.sub.c",
        "pkg/sub/c.py": "import pkg.sub.b",
        "pkg/sub/d.py": "from pkg.sub import c",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    graph = import_graph(tmp_path, ("pkg",))
    assert graph == {
        "pkg": {"pkg.a"},  # the lazy-export table
        "pkg.a": {"pkg.sub", "pkg.sub.b"},  # relative, type-checking, and pkg.sub's __init__
        "pkg.sub": {"pkg"},  # a name of the package itself
        "pkg.sub.b": {"pkg.sub.c"},  # pkg and pkg.sub ran before pkg.sub.b
        "pkg.sub.c": {"pkg.sub.b"},
        "pkg.sub.d": {"pkg.sub", "pkg.sub.c"},  # a module named in a from-import counts
    }
    assert import_cycles(graph) == [["pkg", "pkg.a", "pkg.sub"], ["pkg.sub.b", "pkg.sub.c"]]


def room_imports() -> dict[tuple[str, str], list[str]]:
    """{(room A, room B): ["path:line module", ...]} for every import from A of a module in B,
    over othello/** and probes/**."""
    edges: dict[tuple[str, str], list[str]] = {}
    for name, path in module_files().items():
        tree = ast.parse(path.read_text())
        for line, module in imported_modules(tree, package_of(name, path)):
            a, b = room(name), room(module)
            if module.split(".")[0] in ("othello", "probes") and a != b:
                edges.setdefault((a, b), []).append(f"{path.relative_to(ROOT)}:{line} {module}")
    return edges


def test_no_two_rooms_import_each_other():
    edges = room_imports()
    found = [f"{a} <-> {b}: {edges[a, b]} / {edges[b, a]}"
             for a, b in sorted(edges) if a < b and (b, a) in edges]  # fmt: skip
    assert not found, f"rooms that import each other: {found}"


def test_the_world_package_never_imports_the_analysis():
    found = [where for (a, b), lines in room_imports().items()
             if a.startswith("othello") and b.startswith("probes") for where in lines]  # fmt: skip
    assert not found, f"othello imports probes: {found}"


def test_the_room_finder_reads_every_import():
    tree = ast.parse("import probes.report.write\nif TYPE_CHECKING:\n    import probes.sae\n"
                     "def f():\n    from probes import interventions\n"
                     "from ..acts import memory")  # fmt: skip
    modules = [m for _, m in imported_modules(tree, "probes.explorer")]
    assert sorted(set(room(m) for m in modules)) == [
        "probes", "probes.acts", "probes.interventions", "probes.report", "probes.sae"
    ]  # fmt: skip
    assert room("probes.fit") == "probes" and room("othello.world.engine") == "othello.world"
