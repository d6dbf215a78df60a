"""House rules that keep the code readable, checked so they cannot drift: every library
function at most 60 lines, every script at most 80, and the analysis package in named rooms."""

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


def imported_modules(tree: ast.Module) -> list[tuple[int, str]]:
    """(line, module) of every absolute import, at any depth, except under ``if
    TYPE_CHECKING:`` (an annotation-only import does not run, so it makes no cycle)."""
    found, todo = [], list(tree.body)
    while todo:
        node = todo.pop()
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            todo.extend(node.orelse)
            continue
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.append((node.lineno, node.module))
            if "." not in node.module:  # from probes import interventions
                found += [(node.lineno, f"{node.module}.{a.name}") for a in node.names]
        todo.extend(ast.iter_child_nodes(node))
    return found


def room_imports() -> dict[tuple[str, str], list[str]]:
    """{(room A, room B): ["path:line module", ...]} for every import from A of a module in B,
    over othello/** and probes/**."""
    edges: dict[tuple[str, str], list[str]] = {}
    for pkg in ("othello", "probes"):
        for path in sorted((ROOT / pkg).rglob("*.py")):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            for line, module in imported_modules(ast.parse(path.read_text())):
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


def test_the_room_finder_reads_every_import_but_type_checking_ones():
    tree = ast.parse("import probes.report.write\nif TYPE_CHECKING:\n    import probes.sae\n"
                     "def f():\n    from probes import interventions")  # fmt: skip
    modules = [m for _, m in imported_modules(tree)]
    assert sorted(room(m) for m in modules) == ["probes", "probes.interventions", "probes.report"]
    assert room("probes.fit") == "probes" and room("othello.world.engine") == "othello.world"
