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
